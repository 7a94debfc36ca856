//! Helpers shared by this crate's unit tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A file in the temp dir, removed on drop.
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    /// A new file whose name ends with `tag`, holding `contents`.
    pub(crate) fn new(tag: &str, contents: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "app-metrics-kafka-test-{}-{n}-{tag}",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write a temp file");
        Self(path)
    }

    /// A file that looks like a PEM certificate (only its existence is checked).
    pub(crate) fn pem(tag: &str) -> Self {
        Self::new(tag, "-----BEGIN CERTIFICATE-----\n")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn text(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Asserts that `message` contains every part.
pub(crate) fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} does not contain {part:?}"
        );
    }
}
