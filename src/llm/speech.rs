//! Text normalisation for speech: what a voice should say for what the model wrote.
//!
//! Markdown marks, `*asterisk actions*`, `[bracketed asides]`, emoji and URLs' punctuation are not spoken; numbers,
//! currency, percentages, times, ordinals, years, temperatures and common symbols and abbreviations become words.
//! Parenthesised text is kept (people do say asides), only the brackets go.

/// Normalises one piece of text for speech.
pub fn normalise(text: &str) -> String {
    let stripped = strip_markup(text);
    let spoken = say_tokens(&stripped);
    collapse(&spoken)
}

/// Normalises `text` whose emotion marks sit at char offsets; returns the spoken text and the marks at the
/// corresponding char offsets in it. The text is normalised piece by piece between marks, so every mark keeps its
/// place between the same words.
pub fn normalise_with_marks(text: &str, marks: &[(usize, String)]) -> (String, Vec<(usize, String)>) {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut out_marks = Vec::new();
    let mut from = 0;
    let mut cuts: Vec<usize> = marks.iter().map(|(at, _)| (*at).min(chars.len())).collect();
    cuts.push(chars.len());
    for (k, &to) in cuts.iter().enumerate() {
        let to = to.max(from);
        let piece: String = chars[from..to].iter().collect();
        let had_lead = piece.starts_with(char::is_whitespace);
        let had_trail = piece.ends_with(char::is_whitespace);
        let said = normalise(&piece);
        if !said.is_empty() {
            if !out.is_empty() && !out.ends_with(' ') && (had_lead || starts_word(&said)) && !starts_punct(&said) {
                out.push(' ');
            }
            out.push_str(&said);
            if had_trail {
                out.push(' ');
            }
        }
        if let Some((_, e)) = marks.get(k) {
            out_marks.push((out.chars().count(), e.clone()));
        }
        from = to;
    }
    let lead = out.chars().take_while(|c| c.is_whitespace()).count();
    let trimmed = out.trim().to_owned();
    let len = trimmed.chars().count();
    let marks = out_marks.into_iter().map(|(at, e)| (at.saturating_sub(lead).min(len), e)).collect();
    (trimmed, marks)
}

fn starts_word(s: &str) -> bool {
    s.starts_with(|c: char| c.is_alphanumeric())
}

fn starts_punct(s: &str) -> bool {
    s.starts_with([',', '.', '!', '?', ';', ':', '…'])
}

/// Whether `c` is an emoji or a piece of one (variation selectors, joiners, skin tones, flags, keycaps).
pub fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF | 0x2190..=0x21FF
        | 0xFE00..=0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F | 0x3030 | 0x303D | 0x3297 | 0x3299)
}

/// Removes markdown, actions, bracketed asides and emoji.
fn strip_markup(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.split('\n') {
        let t = line.trim_start();
        let t = t.trim_start_matches('#').trim_start_matches('>');
        let t = t.trim_start();
        let t = ["- ", "+ ", "* ", "• "].iter().find_map(|b| t.strip_prefix(b)).unwrap_or(t);
        lines.push(t.to_owned());
    }
    let text = lines.join("\n");
    let text = text.replace("**", "").replace("__", "").replace("~~", "").replace('`', "");
    let cs: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            // [text](url) → text; [aside] → nothing
            '[' => {
                if let Some(close) = cs[i + 1..].iter().position(|&x| x == ']').map(|p| p + i + 1) {
                    if cs.get(close + 1) == Some(&'(')
                        && let Some(end) = cs[close + 1..].iter().position(|&x| x == ')').map(|p| p + close + 1)
                    {
                        out.extend(&cs[i + 1..close]);
                        i = end + 1;
                    } else {
                        out.push(' ');
                        i = close + 1;
                    }
                    continue;
                }
                i += 1;
            }
            // *action* → nothing; a lone * → nothing
            '*' => match cs[i + 1..].iter().position(|&x| x == '*').map(|p| p + i + 1) {
                Some(close) => {
                    out.push(' ');
                    i = close + 1;
                }
                None => i += 1,
            },
            '(' | ')' | '{' | '}' | '<' | '>' | '|' | '\\' | '^' => {
                out.push(' ');
                i += 1;
            }
            '_' if i > 0 && cs[i - 1].is_alphanumeric() && cs.get(i + 1).is_some_and(|n| n.is_alphanumeric()) => {
                out.push(' ');
                i += 1;
            }
            '_' => i += 1,
            c if is_emoji(c) => {
                out.push(' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Collapses whitespace and removes spaces before punctuation.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() && !word.starts_with([',', '.', '!', '?', ';', ':']) {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

const CURRENCIES: &[(char, &str, &str, &str, &str)] = &[
    ('$', "dollar", "dollars", "cent", "cents"),
    ('€', "euro", "euros", "cent", "cents"),
    ('£', "pound", "pounds", "penny", "pence"),
    ('¥', "yen", "yen", "", ""),
    ('₹', "rupee", "rupees", "paisa", "paise"),
];

const SCALES: &[(&str, &str)] = &[
    ("thousand", "thousand"),
    ("million", "million"),
    ("billion", "billion"),
    ("trillion", "trillion"),
    ("k", "thousand"),
    ("m", "million"),
    ("bn", "billion"),
];

const WORDS: &[(&str, &str)] = &[
    ("Dr.", "Doctor"),
    ("Mr.", "Mister"),
    ("Mrs.", "Missus"),
    ("Ms.", "Miz"),
    ("Prof.", "Professor"),
    ("St.", "Saint"),
    ("Jr.", "Junior"),
    ("Sr.", "Senior"),
    ("e.g.", "for example"),
    ("e.g", "for example"),
    ("i.e.", "that is"),
    ("i.e", "that is"),
    ("etc.", "et cetera."),
    ("etc", "et cetera"),
    ("vs.", "versus"),
    ("vs", "versus"),
    ("approx.", "approximately"),
    ("&", "and"),
    ("+", "plus"),
    ("=", "equals"),
    ("@", "at"),
    ("×", "times"),
    ("÷", "divided by"),
    ("≈", "about"),
    ("~", "about"),
    ("°", "degrees"),
    ("°C", "degrees Celsius"),
    ("°F", "degrees Fahrenheit"),
    ("%", "percent"),
    ("/", "or"),
    ("a.m.", "A M"),
    ("p.m.", "P M"),
    ("AM", "A M"),
    ("PM", "P M"),
];

/// Says numbers, currency, times, symbols and URLs word by word.
fn say_tokens(text: &str) -> String {
    let cs: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            out.push(c);
            i += 1;
            continue;
        }
        // A whitespace-delimited token, its trailing sentence punctuation kept apart.
        let end = cs[i..].iter().position(|c| c.is_whitespace()).map_or(cs.len(), |p| p + i);
        let raw: String = cs[i..end].iter().collect();
        let next: Option<String> = {
            let s = cs[end..].iter().position(|c| !c.is_whitespace()).map(|p| p + end);
            s.map(|s| {
                let e = cs[s..].iter().position(|c| c.is_whitespace()).map_or(cs.len(), |p| p + s);
                cs[s..e].iter().collect()
            })
        };
        let (consumed_next, said) = say_token(&raw, next.as_deref(), i == 0 || out.ends_with(char::is_whitespace));
        out.push_str(&said);
        i = end;
        if consumed_next && let Some(n) = &next {
            // skip the whitespace and the next token, which `said` already covers
            let s = cs[i..].iter().position(|c| !c.is_whitespace()).map_or(cs.len(), |p| p + i);
            i = s + n.chars().count();
        }
    }
    out
}

/// One token; returns whether the following token was used too (a scale word after an amount, "PM" after a time).
fn say_token(raw: &str, next: Option<&str>, _at_word_start: bool) -> (bool, String) {
    if let Some((_, w)) = WORDS.iter().find(|(k, _)| *k == raw) {
        return (false, (*w).to_owned());
    }
    // Separate leading and trailing punctuation: ("$5," → "", "$5", ",")
    let body_start = raw.find(|c: char| !matches!(c, '"' | '\'' | '“' | '‘' | '«')).unwrap_or(raw.len());
    let lead = &raw[..body_start];
    let rest = &raw[body_start..];
    let body_end = rest
        .char_indices()
        .rev()
        .take_while(|(_, c)| matches!(c, '.' | ',' | '!' | '?' | ';' | ':' | '"' | '\'' | '”' | '’' | '»' | '…'))
        .last()
        .map_or(rest.len(), |(i, _)| i);
    let (body, trail) = rest.split_at(body_end);
    // An abbreviation's own period: "Dr." is a word, not a word and a full stop.
    if let Some((_, w)) = WORDS.iter().find(|(k, _)| k.ends_with('.') && *k == format!("{body}.")) {
        let trail = trail.strip_prefix('.').unwrap_or(trail);
        return (false, format!("{lead}{w}{trail}"));
    }
    if body.is_empty() {
        return (false, raw.to_owned());
    }
    let next_body = next.map(|n| n.trim_end_matches(['.', ',', '!', '?', ';', ':']));
    let mut consumed = false;
    let said = if let Some(s) = say_url(body) {
        s
    } else if let Some((s, used)) = say_money(body, next_body) {
        consumed = used;
        s
    } else if let Some((s, used)) = say_time(body, next_body) {
        consumed = used;
        s
    } else if let Some(s) = say_number_token(body) {
        s
    } else {
        say_symbols(body)
    };
    let trail = if consumed { next.map(|n| &n[next_body.map_or(0, str::len)..]).unwrap_or("") } else { trail };
    (consumed, format!("{lead}{said}{trail}"))
}

fn say_url(body: &str) -> Option<String> {
    let lower = body.to_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        r.to_owned()
    } else if lower.starts_with("www.") {
        lower.clone()
    } else {
        return None;
    };
    let rest = rest.strip_prefix("www.").unwrap_or(&rest).trim_end_matches('/');
    let mut out = String::new();
    for c in rest.chars() {
        match c {
            '.' => out.push_str(" dot "),
            '/' => out.push_str(" slash "),
            '-' | '_' | '?' | '=' | '&' | '#' | ':' => out.push(' '),
            c => out.push(c),
        }
    }
    Some(out)
}

fn say_money(body: &str, next: Option<&str>) -> Option<(String, bool)> {
    let (neg, body) = match body.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let first = body.chars().next()?;
    let &(_, one, many, sub_one, sub_many) = CURRENCIES.iter().find(|c| c.0 == first)?;
    let amount = &body[first.len_utf8()..];
    // "$5k", "$2.5bn"
    let (amount, suffix_scale) = match SCALES.iter().find(|(k, _)| k.len() <= 2 && amount.to_lowercase().ends_with(k)) {
        Some((k, w))
            if amount.len() > k.len() && amount[..amount.len() - k.len()].ends_with(|c: char| c.is_ascii_digit()) =>
        {
            (&amount[..amount.len() - k.len()], Some(*w))
        }
        _ => (amount, None),
    };
    let (whole, frac) = parse_amount(amount)?;
    let next_scale =
        next.and_then(|n| SCALES.iter().find(|(k, _)| k.len() > 2 && n.eq_ignore_ascii_case(k)).map(|(_, w)| *w));
    let scale = suffix_scale.or(next_scale);
    let minus = if neg { "minus " } else { "" };
    if let Some(scale) = scale {
        let n = match frac {
            Some(f) => format!("{} point {}", cardinal(whole), digits(&f)),
            None => cardinal(whole),
        };
        return Some((format!("{minus}{n} {scale} {many}"), next_scale.is_some()));
    }
    let cents = frac.map(|f| {
        let f = format!("{f:0<2}");
        f[..2].parse::<u64>().unwrap_or(0)
    });
    let unit = |n: u64, a: &str, b: &str| if n == 1 { a.to_owned() } else { b.to_owned() };
    let text = match cents {
        Some(c) if c > 0 && !sub_one.is_empty() => {
            if whole == 0 {
                format!("{} {}", cardinal(c), unit(c, sub_one, sub_many))
            } else {
                format!(
                    "{} {} and {} {}",
                    cardinal(whole),
                    unit(whole, one, many),
                    cardinal(c),
                    unit(c, sub_one, sub_many)
                )
            }
        }
        _ => format!("{} {}", cardinal(whole), unit(whole, one, many)),
    };
    Some((format!("{minus}{text}"), false))
}

/// "1,234.50" → (1234, Some("50")).
fn parse_amount(s: &str) -> Option<(u64, Option<String>)> {
    let (int, frac) = match s.split_once('.') {
        Some((a, b)) if !b.is_empty() && b.chars().all(|c| c.is_ascii_digit()) => (a, Some(b.to_owned())),
        Some(_) => return None,
        None => (s, None),
    };
    if int.is_empty() || !int.chars().all(|c| c.is_ascii_digit() || c == ',') || int.starts_with(',') {
        return None;
    }
    let digits: String = int.chars().filter(|c| *c != ',').collect();
    Some((digits.parse().ok()?, frac))
}

fn say_time(body: &str, next: Option<&str>) -> Option<(String, bool)> {
    let (h, rest) = body.split_once(':')?;
    let (m, suffix) = if rest.len() > 2 && rest.is_char_boundary(2) { rest.split_at(2) } else { (rest, "") };
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.chars().chain(m.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 24 || m > 59 {
        return None;
    }
    let mut s = cardinal(h);
    match m {
        0 if suffix.is_empty() && next.is_none_or(|n| !is_ampm(n)) => s.push_str(" o'clock"),
        0 => {}
        1..=9 => s.push_str(&format!(" oh {}", cardinal(m))),
        _ => s.push_str(&format!(" {}", cardinal(m))),
    }
    if is_ampm(suffix) {
        s.push_str(&format!(" {}", ampm_words(suffix)));
        return Some((s, false));
    }
    if let Some(n) = next
        && is_ampm(n)
    {
        s.push_str(&format!(" {}", ampm_words(n)));
        return Some((s, true));
    }
    Some((s, false))
}

fn is_ampm(s: &str) -> bool {
    matches!(s.to_lowercase().trim_end_matches('.'), "am" | "pm" | "a.m" | "p.m")
}

fn ampm_words(s: &str) -> &'static str {
    if s.to_lowercase().starts_with('a') { "A M" } else { "P M" }
}

/// Numbers with what may stick to them: "42", "-3", "3.14", "1,000", "50%", "21st", "1990s", "20°C", "#5", "~10".
fn say_number_token(body: &str) -> Option<String> {
    let (prefix, body) = if let Some(b) = body.strip_prefix('#') {
        ("number ", b)
    } else if let Some(b) = body.strip_prefix('~') {
        ("about ", b)
    } else {
        ("", body)
    };
    let (neg, num) = match body.strip_prefix('-').or_else(|| body.strip_prefix('−')) {
        Some(b) => (true, b),
        None => (false, body),
    };
    let digits_end = num.find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.')).unwrap_or(num.len());
    if digits_end == 0 || !num.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let n = &num[..digits_end];
    let n = n.trim_end_matches(['.', ',']);
    let suffix = &num[n.len()..];
    let (whole, frac) = parse_amount(n)?;
    let minus = if neg { "minus " } else { "" };
    let lower = suffix.to_lowercase();
    let number = |whole: u64| match &frac {
        Some(f) => format!("{} point {}", cardinal(whole), digits(f)),
        None => cardinal(whole),
    };
    let said = match lower.as_str() {
        "" if frac.is_none() && !n.contains(',') && !neg && prefix.is_empty() && is_year(whole) => year(whole),
        "" => number(whole),
        "%" => format!("{} percent", number(whole)),
        "st" | "nd" | "rd" | "th" if frac.is_none() => ordinal(whole),
        "s" if frac.is_none() && whole >= 10 && whole % 10 == 0 => {
            let w = if is_year(whole) { year(whole) } else { cardinal(whole) };
            plural(&w)
        }
        "°" => format!("{} degrees", number(whole)),
        "°c" => format!("{} degrees Celsius", number(whole)),
        "°f" => format!("{} degrees Fahrenheit", number(whole)),
        "k" => format!("{} thousand", number(whole)),
        "x" => format!("{} times", number(whole)),
        _ => format!("{} {}", number(whole), say_symbols(suffix)),
    };
    Some(format!("{prefix}{minus}{said}"))
}

fn plural(w: &str) -> String {
    if let Some(s) = w.strip_suffix('y') { format!("{s}ies") } else { format!("{w}s") }
}

/// Symbols inside a word: "rock&roll" → "rock and roll"; everything else unchanged.
fn say_symbols(body: &str) -> String {
    let mut out = String::new();
    for c in body.chars() {
        match c {
            '&' => out.push_str(" and "),
            '+' => out.push_str(" plus "),
            '=' => out.push_str(" equals "),
            '@' => out.push_str(" at "),
            '%' => out.push_str(" percent "),
            '/' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn is_year(n: u64) -> bool {
    (1100..=1999).contains(&n) || (2010..=2099).contains(&n)
}

/// 1999 → "nineteen ninety-nine", 2024 → "twenty twenty-four", 1900 → "nineteen hundred".
fn year(n: u64) -> String {
    let (hi, lo) = (n / 100, n % 100);
    match lo {
        0 => format!("{} hundred", cardinal(hi)),
        1..=9 => format!("{} oh {}", cardinal(hi), cardinal(lo)),
        _ => format!("{} {}", cardinal(hi), cardinal(lo)),
    }
}

fn digits(s: &str) -> String {
    s.chars().filter_map(|c| c.to_digit(10)).map(|d| cardinal(d as u64)).collect::<Vec<_>>().join(" ")
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// 1234 → "one thousand two hundred thirty-four".
pub fn cardinal(n: u64) -> String {
    if n < 20 {
        return ONES[n as usize].into();
    }
    if n < 100 {
        let t = TENS[(n / 10) as usize];
        return if n.is_multiple_of(10) { t.into() } else { format!("{t}-{}", ONES[(n % 10) as usize]) };
    }
    if n < 1000 {
        let h = format!("{} hundred", ONES[(n / 100) as usize]);
        return if n.is_multiple_of(100) { h } else { format!("{h} {}", cardinal(n % 100)) };
    }
    for (size, name) in [
        (1_000_000_000_000_000u64, "quadrillion"),
        (1_000_000_000_000, "trillion"),
        (1_000_000_000, "billion"),
        (1_000_000, "million"),
        (1000, "thousand"),
    ] {
        if n >= size {
            let head = format!("{} {name}", cardinal(n / size));
            return if n.is_multiple_of(size) { head } else { format!("{head} {}", cardinal(n % size)) };
        }
    }
    unreachable!()
}

/// 21 → "twenty-first".
pub fn ordinal(n: u64) -> String {
    let c = cardinal(n);
    let (head, last) = match c.rfind([' ', '-']) {
        Some(p) => (&c[..=p], &c[p + 1..]),
        None => ("", c.as_str()),
    };
    let last = match last {
        "one" => "first".into(),
        "two" => "second".into(),
        "three" => "third".into(),
        "five" => "fifth".into(),
        "eight" => "eighth".into(),
        "nine" => "ninth".into(),
        "twelve" => "twelfth".into(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_currency_times() {
        assert_eq!(
            normalise("It costs $3.50, or €1 today."),
            "It costs three dollars and fifty cents, or one euro today."
        );
        assert_eq!(normalise("$5 million and $2.5k"), "five million dollars and two point five thousand dollars");
        assert_eq!(
            normalise("Meet at 3:30 PM or 7:05am, not 9:00."),
            "Meet at three thirty P M or seven oh five A M, not nine o'clock."
        );
        assert_eq!(
            normalise("50% of 1,234 and 3.14"),
            "fifty percent of one thousand two hundred thirty-four and three point one four"
        );
        assert_eq!(
            normalise("the 21st in 1999 and 2024, not 2005"),
            "the twenty-first in nineteen ninety-nine and twenty twenty-four, not two thousand five"
        );
        assert_eq!(
            normalise("-3 and 20°C, #1 in the 1990s"),
            "minus three and twenty degrees Celsius, number one in the nineteen nineties"
        );
    }

    #[test]
    fn markup_emoji_symbols() {
        assert_eq!(normalise("**Bold** *waves* hi 😊✨ [laughs] [docs](http://x.y) & you"), "Bold hi docs and you");
        assert_eq!(normalise("- item one\n# Title"), "item one Title");
        assert_eq!(
            normalise("Dr. Who, e.g. this. See https://example.com/docs."),
            "Doctor Who, for example this. See example dot com slash docs."
        );
        assert_eq!(normalise("(quietly) okay"), "quietly okay");
    }

    #[test]
    fn marks_keep_their_place() {
        let (t, m) = normalise_with_marks("I paid $5 😊 for it!", &[(10, "😊".into())]);
        assert_eq!(t, "I paid five dollars for it!");
        assert_eq!(m, vec![(20, "😊".into())]);
        let (t, m) = normalise_with_marks("Wow. ", &[(0, "😲".into()), (5, "😊".into())]);
        assert_eq!((t.as_str(), m), ("Wow.", vec![(0, "😲".into()), (4, "😊".into())]));
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal(1), "first");
        assert_eq!(ordinal(12), "twelfth");
        assert_eq!(ordinal(40), "fortieth");
        assert_eq!(ordinal(103), "one hundred third");
    }
}
