//! Support for tests that need the real models (not part of the app's behaviour).
//!
//! Tests read the models from the folder named by `PERSONA_MODELS`. When `PERSONA_REQUIRE_MODELS=1` is set (CI
//! sets it), a missing model fails the test instead of skipping it.

use std::path::PathBuf;

/// The models folder when every one of `files` is in it. Otherwise: a panic under `PERSONA_REQUIRE_MODELS=1`,
/// else a note on stderr and `None`, so the caller returns early (skips).
pub fn models_dir(files: &[&str]) -> Option<PathBuf> {
    let required = std::env::var("PERSONA_REQUIRE_MODELS").is_ok_and(|v| v == "1");
    let dir = std::env::var_os("PERSONA_MODELS").filter(|d| !d.is_empty()).map(PathBuf::from);
    let missing: Vec<String> = match &dir {
        None => vec!["PERSONA_MODELS is not set".into()],
        Some(d) => files.iter().filter(|f| !d.join(f).exists()).map(|f| d.join(f).display().to_string()).collect(),
    };
    if missing.is_empty() {
        return dir;
    }
    if required {
        panic!("PERSONA_REQUIRE_MODELS=1 and models are missing: {}", missing.join(", "));
    }
    eprintln!("skipped: models missing ({}); set PERSONA_MODELS=../shared/models", missing.join(", "));
    None
}

/// `models_dir`, or return from the test (skip) when the models are missing and not required.
#[macro_export]
macro_rules! require_models {
    ($($file:expr),* $(,)?) => {
        match $crate::testing::models_dir(&[$($file),*]) {
            Some(dir) => dir,
            None => return,
        }
    };
}
