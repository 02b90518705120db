//! Downloading assets into the models folder: from their public source, from a mirror folder laid out like the
//! models folder, or from a mirror base URL with that layout.
//!
//! A download goes to `<file>.part` beside its destination and is resumed with an HTTP `Range` request when a
//! previous attempt was cut off (in the same run, or an earlier one). The finished file is hashed and only a file
//! whose SHA-256 the manifest accepts is renamed into place, so the app never sees a partial or wrong file; a file
//! that fails the check is deleted together with its `.part`. Every network wait is bounded (connect and read
//! timeouts), so a stalled server ends in an error rather than a hang.
//!
//! A file that ships inside a Python wheel (ONNX Runtime) is fetched through PyPI's JSON API: the wheel for this
//! platform is chosen from the release's file list, downloaded like any file, checked against the SHA-256 PyPI
//! publishes for it, and the one member is extracted and checked against the manifest. `PERSONA_PYPI_URL`
//! replaces `https://pypi.org/pypi` (a PyPI mirror, or a test server). Small files the app carries (the Kokoro
//! vocabulary) are installed from the bundled copy when no mirror has them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::config::Paths;
use crate::models::manifest::{self, Asset, AssetFile, FileState, Verify, WheelSource};

/// PyPI's JSON API.
pub const PYPI_URL: &str = "https://pypi.org/pypi";

/// The PyPI JSON API to ask: `PERSONA_PYPI_URL` when set (a mirror, or a test server), else [`PYPI_URL`].
pub fn pypi_url_from_env() -> String {
    std::env::var("PERSONA_PYPI_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| PYPI_URL.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// Where files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Each file's `url` in the manifest.
    Upstream,
    /// A folder laid out like the models folder (`silero_vad.onnx`, `voices/af_heart.bin`, ...).
    MirrorDir(PathBuf),
    /// A base URL with that layout (`<base>/voices/af_heart.bin`).
    MirrorUrl(String),
}

impl Source {
    /// `--mirror` argument: a URL when it starts with `http://` or `https://`, else a folder.
    pub fn from_mirror(arg: &str) -> Source {
        if arg.starts_with("http://") || arg.starts_with("https://") {
            Source::MirrorUrl(arg.trim_end_matches('/').to_owned())
        } else {
            Source::MirrorDir(PathBuf::from(arg))
        }
    }
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    /// Download again even when a verified copy is installed.
    pub force: bool,
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for the response headers or for the next piece of the body: a server silent this long is
    /// treated as stalled.
    pub read_timeout: Duration,
    /// Further attempts after an interrupted or stalled transfer, each resuming where the last one stopped.
    pub retries: u32,
    /// Draw progress bars on stderr (only when it is a terminal).
    pub progress: bool,
    /// PyPI's JSON API (`https://pypi.org/pypi`), for files taken from wheels.
    pub pypi_url: String,
    /// The platform whose wheel is chosen (`linux-x86_64`, ...): this one, unless a test says otherwise.
    pub platform: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            source: Source::Upstream,
            force: false,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            retries: 3,
            progress: true,
            pypi_url: pypi_url_from_env(),
            platform: manifest::this_platform(),
        }
    }
}

/// A fetch that did not succeed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{url} answered 404 Not Found: the address is wrong or the file has moved. Fix the url of {name} in models/manifest.toml, or use --mirror"
    )]
    NotFound { name: String, url: String },
    #[error("{url} answered {status} for {name}. Try again later, or use --mirror DIR|URL")]
    HttpStatus { name: String, url: String, status: reqwest::StatusCode },
    #[error(
        "could not connect to {url} ({reason}). Check the network connection and proxy, or use --mirror DIR for an offline copy"
    )]
    Connect { url: String, reason: String },
    #[error(
        "{url} stopped sending data for {secs} s (tried {attempts} time(s)). Try again later, raise --timeout, or use --mirror"
    )]
    Stalled { url: String, secs: u64, attempts: u32 },
    #[error(
        "the download of {url} was cut off (tried {attempts} time(s)): {reason}. Run the same command again: it resumes where it stopped"
    )]
    Interrupted { url: String, attempts: u32, reason: String },
    #[error(
        "{name} from {from} has SHA-256 {actual}, expected {expected}: the file is damaged or not the one the manifest names. It was not installed and the partial download was removed; try again, or use another --mirror"
    )]
    DigestMismatch { name: String, from: String, actual: String, expected: String },
    #[error(
        "{name} has no public download (mirror only). Use --mirror DIR pointing at a folder that holds it, or set PERSONA_MODELS to such a folder"
    )]
    NoSource { name: String },
    #[error(
        "{name}: the file at {url} is a different build from the pinned one and its SHA-256 is not recorded, so it cannot be verified and is not downloaded. Use --mirror DIR, or install it yourself (for ONNX Runtime: set ORT_DYLIB_PATH)"
    )]
    UpstreamDigestUnknown { name: String, url: String },
    #[error("{path} does not exist in the mirror folder. Point --mirror at a folder laid out like the models folder")]
    MirrorMissing { path: PathBuf },
    #[error(
        "PyPI has no release {project} {version} ({url}). Check pypi/pypi_version of {name} in models/manifest.toml and PERSONA_PYPI_URL, or use --mirror"
    )]
    NoRelease { name: String, project: String, version: String, url: String },
    #[error(
        "PyPI {project} {version} has no wheel for {platform} (it has: {available}). Use --mirror DIR with a copy of {name}, or install it yourself (for ONNX Runtime: set ORT_DYLIB_PATH)"
    )]
    NoWheel { name: String, project: String, version: String, platform: String, available: String },
    #[error(
        "{url} did not give a usable PyPI release list: {reason}. Try again later, check PERSONA_PYPI_URL, or use --mirror"
    )]
    BadIndex { url: String, reason: String },
    #[error("{url} is not a usable archive, or lacks {entry}: {reason}")]
    Archive { url: String, entry: String, reason: String },
    #[error("cannot {action} {path}: {source}{}", io_hint(.source))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start the HTTP client: {0}")]
    Client(String),
}

fn io_hint(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        StorageFull | QuotaExceeded | FileTooLarge => {
            ". Free some disk space, or set PERSONA_MODELS to a folder on another disk"
        }
        PermissionDenied | ReadOnlyFilesystem => {
            ". Check the folder's permissions, or set PERSONA_MODELS to a folder you can write"
        }
        _ => "",
    }
}

fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> FetchError + 'p {
    move |source| FetchError::Io { action, path: path.to_owned(), source }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A verified copy was already installed.
    AlreadyInstalled(PathBuf),
    /// Downloaded or copied, verified and moved into place.
    Installed { path: PathBuf, bytes: u64 },
}

/// Fetches assets into `paths.models_dir`.
pub struct Fetcher {
    paths: Paths,
    opts: Options,
    client: reqwest::Client,
}

impl Fetcher {
    pub fn new(paths: Paths, opts: Options) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.read_timeout)
            .user_agent(concat!("persona/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Fetcher { paths, opts, client })
    }

    /// Fetches every file of `asset`; stops at the first failure.
    pub async fn fetch_asset(&self, asset: &Asset) -> Result<Vec<Outcome>, FetchError> {
        let mut out = Vec::new();
        for f in &asset.files {
            out.push(self.fetch_file(f).await?);
        }
        Ok(out)
    }

    /// Fetches one file, unless a verified copy is installed (and `force` is off).
    pub async fn fetch_file(&self, file: &AssetFile) -> Result<Outcome, FetchError> {
        let dest = file.local_path(&self.paths.models_dir);
        if !self.opts.force && manifest::check_file(file, &self.paths, Verify::Cached).state == FileState::Verified {
            return Ok(Outcome::AlreadyInstalled(dest));
        }
        if self.opts.source == Source::Upstream {
            // Refuse what cannot be fetched before touching the models folder.
            match &file.url {
                Some(url) if file.upstream_digest_unknown => {
                    return Err(FetchError::UpstreamDigestUnknown { name: file.path.clone(), url: url.clone() });
                }
                None if file.wheel().is_none() && !file.bundled => {
                    return Err(FetchError::NoSource { name: file.path.clone() });
                }
                _ => {}
            }
        }
        let dir = dest.parent().unwrap_or(&self.paths.models_dir).to_owned();
        std::fs::create_dir_all(&dir).map_err(io("create the folder", &dir))?;
        let part = with_suffix(&dest, ".part");
        let from = match &self.opts.source {
            Source::MirrorDir(root) => {
                let src = file.local_path(root);
                if src.is_file() {
                    self.copy(&src, &part, &file.path)?;
                    src.display().to_string()
                } else if file.bundled {
                    self.write_bundled(file, &part)?
                } else {
                    return Err(FetchError::MirrorMissing { path: src });
                }
            }
            Source::MirrorUrl(base) => {
                let url = format!("{}/{}", base.trim_end_matches('/'), file.path);
                match self.download(&file.path, &url, &part).await {
                    Ok(()) => url,
                    Err(FetchError::NotFound { .. }) if file.bundled => self.write_bundled(file, &part)?,
                    Err(e) => return Err(e),
                }
            }
            Source::Upstream if file.url.is_none() => match file.wheel() {
                Some(wheel) => self.fetch_from_wheel(file, wheel, &dest, &part).await?,
                None if file.bundled => self.write_bundled(file, &part)?,
                None => return Err(FetchError::NoSource { name: file.path.clone() }),
            },
            Source::Upstream => {
                let url = file.url.clone().ok_or_else(|| FetchError::NoSource { name: file.path.clone() })?;
                if file.upstream_digest_unknown {
                    return Err(FetchError::UpstreamDigestUnknown { name: file.path.clone(), url });
                }
                match (&file.archive, &file.archive_path) {
                    (Some(_), Some(entry)) => {
                        let archive = with_suffix(&dest, ".archive.part");
                        self.download(&file.path, &url, &archive).await?;
                        let extracted = extract_tar_gz(&archive, entry, &part).map_err(|e| match e {
                            ExtractError::Io(e) => e,
                            ExtractError::Archive(reason) => {
                                // A broken archive is not resumable: start afresh next time.
                                let _ = std::fs::remove_file(&archive);
                                FetchError::Archive { url: url.clone(), entry: entry.clone(), reason }
                            }
                        });
                        extracted?;
                        let _ = std::fs::remove_file(&archive);
                    }
                    _ => self.download(&file.path, &url, &part).await?,
                }
                url
            }
        };
        let digest = manifest::sha256_file(&part).map_err(io("read", &part))?;
        if !file.accepted_digests().contains(&digest.as_str()) {
            let _ = std::fs::remove_file(&part);
            return Err(FetchError::DigestMismatch {
                name: file.path.clone(),
                from,
                actual: digest,
                expected: file.accepted_digests().join(" or "),
            });
        }
        let bytes = std::fs::metadata(&part).map_err(io("read", &part))?.len();
        std::fs::rename(&part, &dest).map_err(io("move into place", &dest))?;
        manifest::remember_verified(&self.paths, &dest, &digest);
        Ok(Outcome::Installed { path: dest, bytes })
    }

    /// Writes the app's bundled copy of `file` to `part` (verified afterwards like any download).
    fn write_bundled(&self, file: &AssetFile, part: &Path) -> Result<String, FetchError> {
        let bytes = manifest::bundled(&file.path).ok_or_else(|| FetchError::NoSource { name: file.path.clone() })?;
        let written = std::fs::File::create(part).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(part);
            return Err(io("write", part)(e));
        }
        Ok("the copy bundled with Persona".to_owned())
    }

    /// Downloads the wheel for this platform, checks it against PyPI's SHA-256 and extracts `wheel.member` to
    /// `part`. The wheel's `.part` is kept when the download is cut off (resumed next time) and removed otherwise.
    /// Returns where the file came from.
    async fn fetch_from_wheel(
        &self,
        file: &AssetFile,
        wheel: WheelSource<'_>,
        dest: &Path,
        part: &Path,
    ) -> Result<String, FetchError> {
        let chosen = self.pypi_wheel(&file.path, wheel).await?;
        let wheel_part = with_suffix(dest, ".whl.part");
        self.download(&chosen.filename, &chosen.url, &wheel_part).await?;
        let digest = manifest::sha256_file(&wheel_part).map_err(io("read", &wheel_part))?;
        let published = chosen.digests.sha256.to_ascii_lowercase();
        if digest != published {
            let _ = std::fs::remove_file(&wheel_part);
            return Err(FetchError::DigestMismatch {
                name: chosen.filename.clone(),
                from: chosen.url.clone(),
                actual: digest,
                expected: format!("{published} (published by PyPI)"),
            });
        }
        let extracted = extract_zip(&wheel_part, wheel.member, part);
        let _ = std::fs::remove_file(&wheel_part);
        extracted.map_err(|e| match e {
            ExtractError::Io(e) => e,
            ExtractError::Archive(reason) => {
                FetchError::Archive { url: chosen.url.clone(), entry: wheel.member.to_owned(), reason }
            }
        })?;
        Ok(format!("{} ({})", chosen.url, wheel.member))
    }

    /// The wheel of `wheel.project` `wheel.version` for the platform in the options, with an absolute URL.
    async fn pypi_wheel(&self, name: &str, wheel: WheelSource<'_>) -> Result<PypiFile, FetchError> {
        let base = self.opts.pypi_url.trim_end_matches('/');
        let release_url = format!("{base}/{}/{}/json", wheel.project, wheel.version);
        let (doc_url, files) = match self.get_small(name, &release_url).await? {
            Some(body) => {
                let doc: PypiRelease = serde_json::from_slice(&body).map_err(|e| bad_index(&release_url, e))?;
                (release_url, doc.urls)
            }
            None => {
                // Some PyPI mirrors serve only the project document; its `releases` table lists each version's
                // files in the same form.
                let project_url = format!("{base}/{}/json", wheel.project);
                let no_release = || FetchError::NoRelease {
                    name: name.to_owned(),
                    project: wheel.project.to_owned(),
                    version: wheel.version.to_owned(),
                    url: release_url.clone(),
                };
                let body = self.get_small(name, &project_url).await?.ok_or_else(no_release)?;
                let mut doc: PypiProject = serde_json::from_slice(&body).map_err(|e| bad_index(&project_url, e))?;
                (project_url, doc.releases.remove(wheel.version).ok_or_else(no_release)?)
            }
        };
        let chosen = choose_wheel(&files, &self.opts.platform).ok_or_else(|| FetchError::NoWheel {
            name: name.to_owned(),
            project: wheel.project.to_owned(),
            version: wheel.version.to_owned(),
            platform: self.opts.platform.clone(),
            available: files.iter().map(|f| f.filename.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        // PyPI gives absolute URLs (files.pythonhosted.org); mirrors may give them relative to the document.
        let url = reqwest::Url::parse(&doc_url)
            .and_then(|u| u.join(&chosen.url))
            .map_err(|e| bad_index(&doc_url, format!("wheel url {:?}: {e}", chosen.url)))?;
        if chosen.digests.sha256.len() != 64 || !chosen.digests.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad_index(&doc_url, format!("{} has no SHA-256 digest", chosen.filename)));
        }
        Ok(PypiFile { url: url.to_string(), ..chosen.clone() })
    }

    /// A small document (a PyPI JSON page) in memory; `None` for 404.
    async fn get_small(&self, name: &str, url: &str) -> Result<Option<bytes::Bytes>, FetchError> {
        let wait = self.opts.connect_timeout + self.opts.read_timeout;
        let stalled =
            || FetchError::Stalled { url: url.to_owned(), secs: self.opts.read_timeout.as_secs().max(1), attempts: 1 };
        let resp = match tokio::time::timeout(wait, self.client.get(url).send()).await {
            Err(_) => return Err(stalled()),
            Ok(Err(e)) if e.is_timeout() => return Err(stalled()),
            Ok(Err(e)) if e.is_connect() => {
                return Err(FetchError::Connect { url: url.to_owned(), reason: root_cause(&e) });
            }
            Ok(Err(e)) => return Err(bad_index(url, error_chain(&e))),
            Ok(Ok(r)) => r,
        };
        match resp.status() {
            reqwest::StatusCode::NOT_FOUND => return Ok(None),
            s if !s.is_success() => {
                return Err(FetchError::HttpStatus { name: name.to_owned(), url: url.to_owned(), status: s });
            }
            _ => {}
        }
        // The client's read timeout bounds each read of the body.
        match resp.bytes().await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_timeout() => Err(stalled()),
            Err(e) => Err(bad_index(url, error_chain(&e))),
        }
    }

    fn bar(&self, name: &str, len: Option<u64>) -> ProgressBar {
        if !self.opts.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:28!} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>11} {eta:>4}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_message(name.to_owned());
        bar
    }

    /// Copies a mirror file to `part` (hashing happens afterwards, like for downloads).
    fn copy(&self, src: &Path, part: &Path, name: &str) -> Result<(), FetchError> {
        let mut input = std::fs::File::open(src).map_err(io("read", src))?;
        let len = input.metadata().map(|m| m.len()).ok();
        let mut output = std::fs::File::create(part).map_err(io("write", part))?;
        let bar = self.bar(name, len);
        let mut buf = vec![0u8; 1 << 20];
        let result = loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(io("read", src)(e)),
            };
            if let Err(e) = output.write_all(&buf[..n]) {
                break Err(io("write", part)(e));
            }
            bar.inc(n as u64);
        };
        let result = result.and_then(|()| output.sync_all().map_err(io("write", part)));
        bar.finish_and_clear();
        if result.is_err() {
            let _ = std::fs::remove_file(part);
        }
        result
    }

    /// Downloads `url` into `part`, resuming what is there, retrying interrupted or stalled transfers.
    pub async fn download(&self, name: &str, url: &str, part: &Path) -> Result<(), FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.download_once(name, url, part).await {
                Ok(()) => return Ok(()),
                Err(Transient::Stalled) if attempt > self.opts.retries => {
                    return Err(FetchError::Stalled {
                        url: url.to_owned(),
                        secs: self.opts.read_timeout.as_secs().max(1),
                        attempts: attempt,
                    });
                }
                Err(Transient::Cut(reason)) if attempt > self.opts.retries => {
                    return Err(FetchError::Interrupted { url: url.to_owned(), attempts: attempt, reason });
                }
                Err(Transient::Fatal(e)) => return Err(e),
                Err(e) => {
                    tracing::info!("{name}: {e:?}; resuming (attempt {} of {})", attempt + 1, self.opts.retries + 1);
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                }
            }
        }
    }

    async fn download_once(&self, name: &str, url: &str, part: &Path) -> Result<(), Transient> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut req = self.client.get(url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        // The client's read timeout bounds each read; this bounds the wait for the headers as a whole.
        let wait = self.opts.connect_timeout + self.opts.read_timeout;
        let resp = match tokio::time::timeout(wait, req.send()).await {
            Err(_) => return Err(Transient::Stalled),
            Ok(Err(e)) if e.is_timeout() => return Err(Transient::Stalled),
            Ok(Err(e)) if e.is_connect() => {
                return Err(Transient::Fatal(FetchError::Connect { url: url.to_owned(), reason: root_cause(&e) }));
            }
            Ok(Err(e)) => return Err(Transient::Cut(error_chain(&e))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let (mut file, start) = match status {
            reqwest::StatusCode::PARTIAL_CONTENT if have > 0 && range_start(&resp) == Some(have) => {
                let f = std::fs::OpenOptions::new().append(true).open(part).map_err(fatal_io("write", part))?;
                (f, have)
            }
            s if s.is_success() => {
                // A full answer (the server ignores ranges, or nothing was there yet): start from the beginning.
                (std::fs::File::create(part).map_err(fatal_io("write", part))?, 0)
            }
            reqwest::StatusCode::RANGE_NOT_SATISFIABLE => {
                // The .part is as long as (or longer than) the file: it cannot be resumed, so start over.
                let _ = std::fs::remove_file(part);
                return Err(Transient::Cut("the partial download did not fit the file on the server".into()));
            }
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE => {
                return Err(Transient::Fatal(FetchError::NotFound { name: name.to_owned(), url: url.to_owned() }));
            }
            s => {
                return Err(Transient::Fatal(FetchError::HttpStatus {
                    name: name.to_owned(),
                    url: url.to_owned(),
                    status: s,
                }));
            }
        };
        let total = resp.content_length().map(|n| n + start);
        let bar = self.bar(name, total);
        bar.set_position(start);
        let mut resp = resp;
        let result = loop {
            match tokio::time::timeout(self.opts.read_timeout, resp.chunk()).await {
                Err(_) => break Err(Transient::Stalled),
                Ok(Err(e)) if e.is_timeout() => break Err(Transient::Stalled),
                Ok(Err(e)) => break Err(Transient::Cut(error_chain(&e))),
                Ok(Ok(None)) => break Ok(()),
                Ok(Ok(Some(bytes))) => {
                    if let Err(e) = file.write_all(&bytes) {
                        break Err(Transient::Fatal(FetchError::Io {
                            action: "write",
                            path: part.to_owned(),
                            source: e,
                        }));
                    }
                    bar.inc(bytes.len() as u64);
                }
            }
        };
        bar.finish_and_clear();
        // Keep what arrived (it is resumed next time) unless writing itself failed.
        let flushed = file.sync_all();
        if let Err(Transient::Fatal(FetchError::Io { .. })) = &result {
            let _ = std::fs::remove_file(part);
        }
        result?;
        flushed.map_err(fatal_io("write", part))?;
        if let Some(total) = total {
            let got = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
            if got < total {
                return Err(Transient::Cut(format!("got {got} of {total} bytes")));
            }
        }
        Ok(())
    }
}

/// Failures of one attempt: the first two are retried (resuming), the last is returned at once.
#[derive(Debug)]
enum Transient {
    Stalled,
    Cut(String),
    Fatal(FetchError),
}

fn fatal_io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> Transient + 'p {
    move |source| Transient::Fatal(FetchError::Io { action, path: path.to_owned(), source })
}

/// The first byte of a `206` answer (`Content-Range: bytes 100-199/200`).
fn range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = resp.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    v.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The innermost cause ("Connection refused (os error 111)", "failed to lookup address information: ...").
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

enum ExtractError {
    Io(FetchError),
    Archive(String),
}

/// Writes the zip member `entry` (a wheel is a zip file) to `out`. The zip reader checks the member's CRC-32.
fn extract_zip(archive: &Path, entry: &str, out: &Path) -> Result<(), ExtractError> {
    let f = std::fs::File::open(archive).map_err(|e| ExtractError::Io(io("read", archive)(e)))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| ExtractError::Archive(e.to_string()))?;
    let mut member = match zip.by_name(entry) {
        Ok(m) => m,
        Err(zip::result::ZipError::FileNotFound) => return Err(ExtractError::Archive("no such member".into())),
        Err(e) => return Err(ExtractError::Archive(e.to_string())),
    };
    write_member(&mut member, out)
}

/// Copies an archive member to `out`, removing `out` when that fails.
fn write_member(member: &mut dyn Read, out: &Path) -> Result<(), ExtractError> {
    let mut w = std::fs::File::create(out).map_err(|e| ExtractError::Io(io("write", out)(e)))?;
    let copied = std::io::copy(member, &mut w).and_then(|_| w.sync_all());
    if let Err(e) = copied {
        let _ = std::fs::remove_file(out);
        // A read error inside the archive is the archive's fault; anything else is the disk's.
        return Err(match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::PermissionDenied => {
                ExtractError::Io(io("write", out)(e))
            }
            _ => ExtractError::Archive(e.to_string()),
        });
    }
    Ok(())
}

/// Writes the archive member `entry` of a `.tar.gz` to `out`.
fn extract_tar_gz(archive: &Path, entry: &str, out: &Path) -> Result<(), ExtractError> {
    let f = std::fs::File::open(archive).map_err(|e| ExtractError::Io(io("read", archive)(e)))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let entries = tar.entries().map_err(|e| ExtractError::Archive(e.to_string()))?;
    for item in entries {
        let mut item = item.map_err(|e| ExtractError::Archive(e.to_string()))?;
        let path = item.path().map_err(|e| ExtractError::Archive(e.to_string()))?.display().to_string();
        if path.trim_start_matches("./") != entry {
            continue;
        }
        return write_member(&mut item, out);
    }
    Err(ExtractError::Archive("no such member".into()))
}

/// One file of a PyPI release, as PyPI's JSON API lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PypiFile {
    pub filename: String,
    pub url: String,
    #[serde(default)]
    pub size: Option<u64>,
    pub digests: PypiDigests,
    #[serde(default)]
    pub yanked: bool,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct PypiDigests {
    #[serde(default)]
    pub sha256: String,
}

/// `/pypi/{project}/{version}/json`.
#[derive(serde::Deserialize)]
struct PypiRelease {
    urls: Vec<PypiFile>,
}

/// `/pypi/{project}/json`.
#[derive(serde::Deserialize)]
struct PypiProject {
    #[serde(default)]
    releases: HashMap<String, Vec<PypiFile>>,
}

fn bad_index(url: &str, reason: impl std::fmt::Display) -> FetchError {
    FetchError::BadIndex { url: url.to_owned(), reason: reason.to_string() }
}

/// Whether a wheel platform tag (`manylinux_2_28_x86_64`, `macosx_14_0_arm64`, `win_amd64`) runs on `platform`
/// (`linux-x86_64`, `macos-aarch64`, `windows-x86_64`, ...). Only glibc Linux (manylinux) is taken: the app's own
/// build targets glibc.
pub fn wheel_tag_fits(tag: &str, platform: &str) -> bool {
    let mac = |arch: &str| tag.starts_with("macosx_") && (tag.ends_with(arch) || tag.ends_with("_universal2"));
    match platform {
        "linux-x86_64" => tag.starts_with("manylinux") && tag.ends_with("_x86_64"),
        "linux-aarch64" => tag.starts_with("manylinux") && tag.ends_with("_aarch64"),
        "macos-aarch64" => mac("_arm64"),
        "macos-x86_64" => mac("_x86_64"),
        "windows-x86_64" => tag == "win_amd64",
        "windows-aarch64" => tag == "win_arm64",
        _ => false,
    }
}

/// The wheel among a release's files for `platform`. Only the shared library inside is used, so any CPython
/// build will do; to be deterministic (some libraries differ between the CPython builds of one release, e.g. the
/// Windows DLL), the oldest CPython wins and free-threaded (`cp313t`) builds come last. Yanked files are skipped.
pub fn choose_wheel<'f>(files: &'f [PypiFile], platform: &str) -> Option<&'f PypiFile> {
    files
        .iter()
        .filter(|f| !f.yanked)
        .filter_map(|f| {
            // {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl; each tag may be a `.`-joined set.
            let stem = f.filename.strip_suffix(".whl")?;
            let parts: Vec<&str> = stem.split('-').collect();
            if !(5..=6).contains(&parts.len()) {
                return None;
            }
            let (python, abi, plat) = (parts[parts.len() - 3], parts[parts.len() - 2], parts[parts.len() - 1]);
            if !plat.split('.').any(|t| wheel_tag_fits(t, platform)) {
                return None;
            }
            let version = python
                .split('.')
                .filter_map(|t| t.strip_prefix("cp").or_else(|| t.strip_prefix("py")))
                .filter_map(|v| v.parse::<u32>().ok())
                .min()?;
            let free_threaded = abi.split('.').any(|a| a.ends_with('t'));
            Some(((free_threaded, version, f.filename.as_str()), f))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, f)| f)
}

/// A digest of bytes, for tests and mirrors.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The assets a `fetch` with these names means: the named ones (unknown names are an error listing the known
/// ones), or the defaults for this platform when `names` is empty, or every asset for `all`.
pub fn select<'m>(manifest: &'m manifest::Manifest, names: &[String]) -> Result<Vec<&'m Asset>, String> {
    if names.is_empty() {
        return Ok(manifest.defaults());
    }
    if names.iter().any(|n| n == "all") {
        return Ok(manifest.for_this_platform().collect());
    }
    let mut out = Vec::new();
    for n in names {
        match manifest.get(n) {
            Some(a) if !a.for_this_platform() => {
                return Err(format!(
                    "{n} is for {}, this is {}",
                    a.platform.as_deref().unwrap_or("?"),
                    manifest::this_platform()
                ));
            }
            Some(a) => out.push(a),
            None => {
                let known: Vec<&str> = manifest.assets.iter().map(|a| a.name.as_str()).collect();
                return Err(format!("no asset called {n:?}; known: {}, or all", known.join(", ")));
            }
        }
    }
    Ok(out)
}
