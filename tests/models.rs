//! Model downloads against a real HTTP/1.1 server on loopback (complete, interrupted and resumed, corrupted, 404,
//! stalled, archives, mirrors), verification of installed files, and ONNX Runtime with a real model.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use persona::config::Paths;
use persona::models::fetch::{FetchError, Fetcher, Options, Outcome, Source, sha256_hex};
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
