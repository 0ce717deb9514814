//! The morning report (issue 18): `report.html` published with every night, checked in a
//! real headless Chromium (Debian's `chromium`; `.ci/run` installs it): it loads with no
//! console message — its Content-Security-Policy turns any request for a script, font,
//! image or stylesheet into one — and every section and chart is in the page. The
//! screenshots (desktop and phone width) land in the test's temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The Chromium binary, if any; in CI there must be one.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(name).output()
            && o.status.success()
        {
            return Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("no chromium: .ci/run should have installed it");
    }
    eprintln!("skipped: no chromium (apt-get install chromium)");
    None
}

/// Load `page` in headless Chromium; the DOM after load and the console lines.
fn load(browser: &Path, page: &Path, shot: Option<(&Path, &str)>) -> (String, Vec<String>) {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    match shot {
        Some((png, size)) => {
            cmd.arg(format!("--window-size={size}"));
            cmd.arg(format!("--screenshot={}", png.display()));
        }
        None => {
            cmd.arg("--dump-dom");
        }
    }
    cmd.arg(format!("file://{}", page.display()));
    let out = cmd.output().expect("run chromium");
    assert!(out.status.success(), "{}", text(&out));
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

fn run_night(dir: &Path, as_of: &str) -> PathBuf {
    let out = dir.join("out");
    let o = siyu(
        &[
            "run",
            repo().join("jobs/nightly.toml").to_str().unwrap(),
            "--as-of",
            as_of,
            "--out",
            out.to_str().unwrap(),
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    out.join(format!("nightly/as_of={as_of}"))
}

#[test]
fn the_report_loads_in_chromium_with_every_section_and_no_request() {
    let dir = tempfile::tempdir().unwrap();
    run_night(dir.path(), "2026-10-31");
    let night = run_night(dir.path(), "2026-11-01");
    let page = night.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html is published with the night");
    // Self-contained: nothing to fetch, no script.
    for banned in ["http://", "https://", "<script", "<link", "@import", "url("] {
        assert!(!html.contains(banned), "report.html contains {banned}");
    }
    for section in [
        "run",
        "members",
        "diagnosis",
        "segments",
        "baskets",
        "outreach",
        "trends",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{section}\">")),
            "no section {section}"
        );
    }
    for chart in [
        "chart timeline",
        "chart bars funnel",
        "chart bars pyramid",
        "chart waterfall",
        "chart heatmap",
        "chart bars lift",
        "chart bars contacted",
        "chart forest",
        "class=\"spark\"",
    ] {
        assert!(html.contains(chart), "no {chart} in the report");
    }
    // Two nights: the trends have a line for every published table, and the previous
    // night's segment migration is shown.
    assert!(html.contains("The last 2 published night(s), 2026-10-31 → 2026-11-01"));
    assert!(html.contains("<code>member_value</code> rows"));

    let Some(browser) = chromium() else { return };
    let (dom, console) = load(&browser, &page, None);
    assert!(console.is_empty(), "console messages: {console:?}");
    for id in [
        "run",
        "members",
        "diagnosis",
        "segments",
        "baskets",
        "outreach",
        "trends",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "{id} not in the loaded page"
        );
    }
    assert!(
        dom.matches("<svg").count() >= 15,
        "charts in the loaded page"
    );
    for (name, size) in [("desktop.png", "1280,4000"), ("phone.png", "390,3000")] {
        let png = dir.path().join(name);
        let (_, console) = load(&browser, &page, Some((&png, size)));
        assert!(console.is_empty(), "{name}: {console:?}");
        assert!(
            std::fs::metadata(&png).unwrap().len() > 10_000,
            "{name} is a screenshot"
        );
    }

    // The check can fail: a page that asks for an image is blocked and says so.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        html.replacen("<body>", "<body><img src=\"http://127.0.0.1:9/x.png\">", 1),
    )
    .unwrap();
    let (_, console) = load(&browser, &bad, None);
    assert!(
        console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{console:?}"
    );
}

/// `siyu report` rebuilds a night's report from its published outputs alone, for the
/// night named or the newest, and refuses a night that is not there.
#[test]
fn siyu_report_rebuilds_from_published_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let night = run_night(dir.path(), "2026-11-01");
    let page = night.join("report.html");
    let first = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    let job_dir = dir.path().join("out/nightly");
    let o = siyu(&["report", job_dir.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let rebuilt = std::fs::read_to_string(&page).unwrap();
    // The same page: every number comes from the published tables and the manifest.
    assert_eq!(rebuilt, first);
    let o = siyu(
        &["report", job_dir.to_str().unwrap(), "--as-of", "2026-10-01"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("no complete night as_of=2026-10-01"),
        "{}",
        text(&o)
    );
}
