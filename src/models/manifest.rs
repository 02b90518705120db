//! The list of downloadable assets (`models/manifest.toml`, embedded at compile time) and the state of each one
//! in the models folder: installed and verified, missing, or corrupt.
//!
//! Verification hashes every file (SHA-256), which takes a second or two for the 90 MB models. So that
//! `persona doctor` and `persona models list` stay quick, a verified file is remembered in a small cache keyed by
//! path, size and modification time ([`VERIFIED_CACHE`]); any change to the file (a re-download, an edit, a
//! truncation) changes its size or mtime and it is hashed again. `persona models verify` ignores the cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Paths;

/// The manifest shipped with the app.
pub const MANIFEST_TOML: &str = include_str!("../../models/manifest.toml");

/// Small files shipped inside the app, by manifest path: installed from here when no mirror has them, so a plain
/// `persona models fetch` needs no source for them. Each is verified against the manifest like any download.
const BUNDLED: &[(&str, &[u8])] = &[
    // Apache-2.0: the `vocab` table of hexgrad/Kokoro-82M's config.json (see models/manifest.toml).
    ("kokoro-vocab.json", include_bytes!("../../assets/kokoro-vocab.json")),
];

/// The copy of the file at manifest path `path` bundled with the app, if there is one.
pub fn bundled(path: &str) -> Option<&'static [u8]> {
    BUNDLED.iter().find(|(p, _)| *p == path).map(|(_, bytes)| *bytes)
}

/// File in the models folder (or, when that is read-only, in the data folder) remembering verified files.
pub const VERIFIED_CACHE: &str = ".persona-verified.json";

/// The manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the models manifest is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("the models manifest is not valid: {0}")]
    Invalid(String),
}

/// Every asset the app can use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "asset")]
    pub assets: Vec<Asset>,
}

/// One thing a user installs as a unit (a model with its vocabulary, a set of voices, the runtime library).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    pub name: String,
    /// What the asset is for: vad, asr, tts, tts-voice, pitch, llm, runtime, sample.
    pub role: String,
    pub licence: String,
    /// Fetched by a plain `persona models fetch`: the default settings need it.
    #[serde(default)]
    pub default: bool,
    /// Only for this platform (`linux-x86_64`, `macos-aarch64`, ...); `None` for every platform.
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "file")]
    pub files: Vec<AssetFile>,
}

/// One file of an asset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFile {
    /// Path inside the models folder, with `/` separators (also its path in a mirror folder or under a mirror URL).
    pub path: String,
    /// Size of the reference copy in bytes.
    pub size: u64,
    /// SHA-256 (lower-case hex) of the reference copy.
    pub sha256: String,
    /// Canonical public download; `None` when no public source publishes this file (mirror only).
    #[serde(default)]
    pub url: Option<String>,
    /// Digest of the file at `url` when that is a different, equivalent file (also accepted once installed).
    #[serde(default)]
    pub upstream_sha256: Option<String>,
    #[serde(default)]
    pub upstream_size: Option<u64>,
    /// The file at `url` differs from the reference copy and its digest is not known: downloads from `url` are
    /// refused rather than installed unverified.
    #[serde(default)]
    pub upstream_digest_unknown: bool,
    /// `tar.gz` when `url` is an archive holding the file at `archive_path`.
    #[serde(default)]
    pub archive: Option<String>,
    #[serde(default)]
    pub archive_path: Option<String>,
    /// A PyPI project whose wheel holds the file (at `wheel_path`), of release `pypi_version`. The fetcher asks
    /// PyPI for the wheel that fits this platform, checks it against the SHA-256 PyPI publishes for it, then
    /// checks the extracted file against `sha256`.
    #[serde(default)]
    pub pypi: Option<String>,
    #[serde(default)]
    pub pypi_version: Option<String>,
    #[serde(default)]
    pub wheel_path: Option<String>,
    /// The app carries a copy ([`bundled`]); installed from it when no mirror has the file.
    #[serde(default)]
    pub bundled: bool,
}

/// Where a PyPI wheel holds a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelSource<'a> {
    pub project: &'a str,
    pub version: &'a str,
    /// Path of the file inside the wheel (`onnxruntime/capi/libonnxruntime.so.1.32.0`).
    pub member: &'a str,
}

impl AssetFile {
    /// Every digest an installed copy of this file may have.
    pub fn accepted_digests(&self) -> Vec<&str> {
        let mut out = vec![self.sha256.as_str()];
        out.extend(self.upstream_sha256.as_deref());
        out
    }

    /// Every size an installed copy may have (a quick check before hashing).
    pub fn accepted_sizes(&self) -> Vec<u64> {
        let mut out = vec![self.size];
        out.extend(self.upstream_size);
        out
    }

    /// The PyPI wheel this file comes from, when it comes from one.
    pub fn wheel(&self) -> Option<WheelSource<'_>> {
        match (&self.pypi, &self.pypi_version, &self.wheel_path) {
            (Some(project), Some(version), Some(member)) => Some(WheelSource { project, version, member }),
            _ => None,
        }
    }

    /// Where this file goes in `models_dir`.
    pub fn local_path(&self, models_dir: &Path) -> PathBuf {
        self.path.split('/').fold(models_dir.to_owned(), |p, part| p.join(part))
    }
}

impl Manifest {
    /// The manifest shipped with the app.
    pub fn load() -> Result<Manifest, ManifestError> {
        Manifest::parse(MANIFEST_TOML)
    }

    /// Parses and checks a manifest (names unique, digests well-formed, paths inside the models folder).
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text)?;
        // A name may repeat only for different platforms (one ONNX Runtime build per platform).
        let mut names: std::collections::HashMap<&str, Vec<Option<&str>>> = Default::default();
        for a in &m.assets {
            let seen = names.entry(a.name.as_str()).or_default();
            let clash = seen.iter().any(|p| p.is_none() || a.platform.is_none() || *p == a.platform.as_deref());
            if clash {
                return Err(ManifestError::Invalid(format!("asset name {:?} appears twice for one platform", a.name)));
            }
            seen.push(a.platform.as_deref());
            if a.files.is_empty() {
                return Err(ManifestError::Invalid(format!("asset {:?} lists no file", a.name)));
            }
            for f in &a.files {
                for d in f.accepted_digests() {
                    if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                        return Err(ManifestError::Invalid(format!(
                            "{}: {d:?} is not a lower-case hex SHA-256",
                            f.path
                        )));
                    }
                }
                let bad_path = f.path.is_empty()
                    || f.path.starts_with('/')
                    || f.path.contains('\\')
                    || f.path.split('/').any(|c| c.is_empty() || c == "." || c == "..");
                if bad_path {
                    return Err(ManifestError::Invalid(format!(
                        "{:?} is not a relative path inside the models folder",
                        f.path
                    )));
                }
                match (f.archive.as_deref(), &f.archive_path) {
                    (None, None) | (Some("tar.gz"), Some(_)) => {}
                    (Some("tar.gz"), None) => {
                        return Err(ManifestError::Invalid(format!("{}: archive without archive_path", f.path)));
                    }
                    (Some(other), _) => {
                        return Err(ManifestError::Invalid(format!(
                            "{}: archive {other:?} is not supported (only tar.gz)",
                            f.path
                        )));
                    }
                    (None, Some(_)) => {
                        return Err(ManifestError::Invalid(format!("{}: archive_path without archive", f.path)));
                    }
                }
                let wheel_fields = [&f.pypi, &f.pypi_version, &f.wheel_path].iter().filter(|x| x.is_some()).count();
                if wheel_fields != 0 && wheel_fields != 3 {
                    return Err(ManifestError::Invalid(format!(
                        "{}: pypi, pypi_version and wheel_path go together",
                        f.path
                    )));
                }
                if wheel_fields == 3 && (f.url.is_some() || f.upstream_digest_unknown) {
                    return Err(ManifestError::Invalid(format!(
                        "{}: a file comes from a url or a wheel, not both",
                        f.path
                    )));
                }
                if f.bundled && bundled(&f.path).is_none() {
                    return Err(ManifestError::Invalid(format!("{}: bundled, but the app carries no copy", f.path)));
                }
            }
        }
        Ok(m)
    }

    /// The asset called `name`: this platform's when the name has one per platform.
    pub fn get(&self, name: &str) -> Option<&Asset> {
        let mut named = self.assets.iter().filter(|a| a.name == name);
        self.assets.iter().find(|a| a.name == name && a.for_this_platform()).or_else(|| named.next())
    }

    /// The platforms an asset called `name` exists for (`None`: every platform).
    pub fn platforms_of(&self, name: &str) -> Vec<Option<&str>> {
        self.assets.iter().filter(|a| a.name == name).map(|a| a.platform.as_deref()).collect()
    }

    /// Assets that apply to this platform.
    pub fn for_this_platform(&self) -> impl Iterator<Item = &Asset> {
        self.assets.iter().filter(|a| a.for_this_platform())
    }

    /// What a plain `persona models fetch` installs: the default assets for this platform.
    pub fn defaults(&self) -> Vec<&Asset> {
        self.for_this_platform().filter(|a| a.default).collect()
    }
}

impl Asset {
    pub fn for_this_platform(&self) -> bool {
        self.platform.as_deref().is_none_or(|p| p == this_platform())
    }

    /// Total size of the reference copies.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// This platform as the manifest names it: `<os>-<arch>`, e.g. `linux-x86_64`.
pub fn this_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The state of one file in the models folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present, and its digest is one the manifest accepts.
    Verified,
    /// Not there.
    Missing,
    /// There, but its size or digest is not one the manifest accepts.
    Corrupt { reason: String },
    /// There, but it could not be read (permissions, I/O error).
    Unreadable { reason: String },
}

/// One file's state.
#[derive(Debug, Clone)]
pub struct FileStatus {
    /// Path in the manifest (`voices/af_heart.bin`).
    pub name: String,
    /// Where it is (or would be).
    pub path: PathBuf,
    /// Its size on disk, when present.
    pub size: Option<u64>,
    pub state: FileState,
}

/// An asset's state, from its files'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetState {
    /// Every file present and verified.
    Installed,
    /// No file present.
    Missing,
    /// Some files present and verified, others missing.
    Partial,
    /// At least one file corrupt or unreadable.
    Corrupt,
}

impl std::fmt::Display for AssetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AssetState::Installed => "installed",
            AssetState::Missing => "missing",
            AssetState::Partial => "partial",
            AssetState::Corrupt => "corrupt",
        })
    }
}

/// One asset with the state of each of its files.
#[derive(Debug, Clone)]
pub struct AssetStatus {
    pub name: String,
    pub role: String,
    /// Needed by the default settings.
    pub default: bool,
    pub files: Vec<FileStatus>,
}

impl AssetStatus {
    pub fn state(&self) -> AssetState {
        let mut verified = 0;
        for f in &self.files {
            match f.state {
                FileState::Verified => verified += 1,
                FileState::Missing => {}
                FileState::Corrupt { .. } | FileState::Unreadable { .. } => return AssetState::Corrupt,
            }
        }
        if verified == self.files.len() {
            AssetState::Installed
        } else if verified == 0 {
            AssetState::Missing
        } else {
            AssetState::Partial
        }
    }

    /// Bytes present on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.files.iter().filter_map(|f| f.size).sum()
    }
}

/// How hard `status` looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Trust a file verified before if its size and modification time are unchanged (fast).
    Cached,
    /// Hash every present file again (`persona models verify`).
    Full,
}

/// The state of every asset for this platform in `paths.models_dir`, updating the verification cache.
pub fn status(paths: &Paths, verify: Verify) -> Result<Vec<AssetStatus>, ManifestError> {
    Ok(status_of(&Manifest::load()?, paths, verify))
}

/// `status` for a given manifest.
pub fn status_of(manifest: &Manifest, paths: &Paths, verify: Verify) -> Vec<AssetStatus> {
    let mut cache = VerifiedCache::load(paths);
    let out = manifest
        .for_this_platform()
        .map(|a| AssetStatus {
            name: a.name.clone(),
            role: a.role.clone(),
            default: a.default,
            files: a.files.iter().map(|f| file_status(f, &paths.models_dir, &mut cache, verify)).collect(),
        })
        .collect();
    cache.save();
    out
}

/// The state of one file, using and updating the verification cache.
pub fn check_file(file: &AssetFile, paths: &Paths, verify: Verify) -> FileStatus {
    let mut cache = VerifiedCache::load(paths);
    let out = file_status(file, &paths.models_dir, &mut cache, verify);
    cache.save();
    out
}

fn file_status(file: &AssetFile, models_dir: &Path, cache: &mut VerifiedCache, verify: Verify) -> FileStatus {
    let path = file.local_path(models_dir);
    let mut status = FileStatus { name: file.path.clone(), path: path.clone(), size: None, state: FileState::Missing };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return status,
        Err(e) => {
            status.state = FileState::Unreadable { reason: e.to_string() };
            return status;
        }
    };
    let size = meta.len();
    status.size = Some(size);
    if !meta.is_file() {
        status.state = FileState::Corrupt { reason: "not a regular file".into() };
        return status;
    }
    if !file.accepted_sizes().contains(&size) {
        status.state = FileState::Corrupt {
            reason: format!("{size} bytes, expected {}", join(file.accepted_sizes().iter().map(|s| s.to_string()))),
        };
        cache.forget(&path);
        return status;
    }
    let mtime = mtime_ns(&meta);
    let digest = match (verify, cache.get(&path, size, mtime)) {
        (Verify::Cached, Some(d)) => d.to_owned(),
        _ => match sha256_file(&path) {
            Ok(d) => d,
            Err(e) => {
                status.state = FileState::Unreadable { reason: e.to_string() };
                return status;
            }
        },
    };
    if file.accepted_digests().contains(&digest.as_str()) {
        cache.insert(&path, size, mtime, &digest);
        status.state = FileState::Verified;
    } else {
        cache.forget(&path);
        status.state = FileState::Corrupt {
            reason: format!("SHA-256 {digest}, expected {}", join(file.accepted_digests().into_iter())),
        };
    }
    status
}

fn join<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    items.map(|s| s.as_ref().to_owned()).collect::<Vec<_>>().join(" or ")
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct CacheEntry {
    size: u64,
    mtime_ns: u128,
    sha256: String,
}

/// Files verified before, by absolute path. Kept in the models folder, or in the data folder when the models
/// folder is read-only (a shared mirror). A damaged cache is ignored (everything is hashed again).
struct VerifiedCache {
    entries: BTreeMap<String, CacheEntry>,
    places: Vec<PathBuf>,
    changed: bool,
}

impl VerifiedCache {
    fn load(paths: &Paths) -> VerifiedCache {
        let places = vec![paths.models_dir.join(VERIFIED_CACHE), paths.data_dir.join("models-verified.json")];
        let mut entries = BTreeMap::new();
        for p in places.iter().rev() {
            if let Ok(text) = std::fs::read_to_string(p)
                && let Ok(e) = serde_json::from_str::<BTreeMap<String, CacheEntry>>(&text)
            {
                entries.extend(e);
            }
        }
        VerifiedCache { entries, places, changed: false }
    }

    fn key(path: &Path) -> String {
        std::path::absolute(path).unwrap_or_else(|_| path.to_owned()).display().to_string()
    }

    fn get(&self, path: &Path, size: u64, mtime_ns: u128) -> Option<&str> {
        self.entries
            .get(&Self::key(path))
            .filter(|e| e.size == size && e.mtime_ns == mtime_ns)
            .map(|e| e.sha256.as_str())
    }

    fn insert(&mut self, path: &Path, size: u64, mtime_ns: u128, sha256: &str) {
        let entry = CacheEntry { size, mtime_ns, sha256: sha256.to_owned() };
        if self.entries.get(&Self::key(path)) != Some(&entry) {
            self.entries.insert(Self::key(path), entry);
            self.changed = true;
        }
    }

    fn forget(&mut self, path: &Path) {
        self.changed |= self.entries.remove(&Self::key(path)).is_some();
    }

    /// Best effort: a cache that cannot be written only costs time.
    fn save(&self) {
        if !self.changed {
            return;
        }
        let Ok(text) = serde_json::to_string_pretty(&self.entries) else { return };
        for p in &self.places {
            if p.parent().is_some_and(|d| d.is_dir()) && crate::config::atomic_write(p, text.as_bytes()).is_ok() {
                return;
            }
        }
        tracing::debug!("could not write the model verification cache; files will be hashed again next time");
    }
}

/// Records a file just verified (by a download) so the next `status` need not hash it again.
pub fn remember_verified(paths: &Paths, path: &Path, sha256: &str) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    let mut cache = VerifiedCache::load(paths);
    cache.insert(path, meta.len(), mtime_ns(&meta), sha256);
    cache.save();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_manifest_is_valid_and_complete() {
        let m = Manifest::load().unwrap();
        for role in ["vad", "asr", "tts", "tts-voice", "runtime", "llm", "pitch"] {
            assert!(m.assets.iter().any(|a| a.role == role), "no {role} asset");
        }
        let mut defaults: Vec<&str> = m.assets.iter().filter(|a| a.default).map(|a| a.name.as_str()).collect();
        defaults.dedup();
        assert_eq!(defaults, ["silero-vad", "whisper-tiny.en", "kokoro", "kokoro-voices", "onnxruntime"]);
        // The default settings' files are all in the manifest.
        let s = crate::config::Settings::default();
        let paths: Vec<&str> = m.assets.iter().flat_map(|a| &a.files).map(|f| f.path.as_str()).collect();
        for f in [&s.vad.model, &s.asr.model, &s.tts.kokoro_model, &s.tts.kokoro_vocab, &s.tts.piper_model] {
            assert!(paths.contains(&f.as_str()), "{f} is not in the manifest");
        }
    }

    #[test]
    fn every_default_file_has_a_public_source_or_a_bundled_copy() {
        let m = Manifest::load().unwrap();
        for f in m.assets.iter().filter(|a| a.default).flat_map(|a| &a.files) {
            let source = (f.url.is_some() && !f.upstream_digest_unknown) || f.wheel().is_some() || f.bundled;
            assert!(source, "{}: a plain `persona models fetch` could not get it", f.path);
        }
        // The bundled vocabulary is the file the manifest pins.
        let vocab = bundled("kokoro-vocab.json").unwrap();
        assert_eq!(hex::encode(Sha256::digest(vocab)), m.get("kokoro").unwrap().files[1].sha256);
        // ONNX Runtime for each platform with a wheel, one asset per platform.
        let platforms = m.platforms_of("onnxruntime");
        for p in ["linux-x86_64", "linux-aarch64", "macos-aarch64", "windows-x86_64", "windows-aarch64"] {
            assert!(platforms.contains(&Some(p)), "no onnxruntime for {p}");
        }
    }

    #[test]
    fn bad_manifests_are_rejected() {
        let base = |file: &str| format!("[[asset]]\nname='a'\nrole='vad'\nlicence='MIT'\n[[asset.file]]\n{file}");
        let ok = "path='x.onnx'\nsize=1\nsha256='".to_owned() + &"a".repeat(64) + "'";
        assert!(Manifest::parse(&base(&ok)).is_ok());
        let e = Manifest::parse(&base(&ok.replace("x.onnx", "../x.onnx"))).unwrap_err();
        assert!(e.to_string().contains("not a relative path"), "{e}");
        let e = Manifest::parse(&base(&ok.replace(&"a".repeat(64), "abc"))).unwrap_err();
        assert!(e.to_string().contains("not a lower-case hex SHA-256"), "{e}");
        let e = Manifest::parse(&base(&(ok.clone() + "\nsizes=2"))).unwrap_err();
        assert!(e.to_string().contains("sizes"), "{e}");
        let e = Manifest::parse(&base(&(ok.clone() + "\npypi='p'\npypi_version='1'"))).unwrap_err();
        assert!(e.to_string().contains("go together"), "{e}");
        let e = Manifest::parse(&base(&(ok.clone() + "\nbundled=true"))).unwrap_err();
        assert!(e.to_string().contains("carries no copy"), "{e}");
        let twice = base(&ok) + "\n" + &base(&ok);
        assert!(Manifest::parse(&twice).unwrap_err().to_string().contains("twice"));
        let per_platform = twice.replacen("licence='MIT'", "licence='MIT'\nplatform='linux-x86_64'", 1);
        let per_platform = per_platform.replacen("licence='MIT'\n[", "licence='MIT'\nplatform='windows-x86_64'\n[", 1);
        assert!(Manifest::parse(&per_platform).is_ok(), "one asset name per platform is allowed");
    }
}
