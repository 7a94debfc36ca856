//! Captures what the library logs (`tracing`, down to DEBUG), so a test can count the lines
//! a fault produces and search every line for a secret. One capture per test binary: the
//! tests that read it hold [`LogCapture::exclusive`] so their windows do not mix.

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};

/// One logged event.
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Instant,
    pub level: Level,
    /// The problem: the log statement (`file:line`), and the event it is about when it
    /// names one (each event's sink has a limiter of its own).
    pub problem: String,
    /// The message and every field, as a log file would show them.
    pub text: String,
}

/// The binary's capture.
pub struct LogCapture {
    lines: Mutex<Vec<Line>>,
    exclusive: tokio::sync::Mutex<()>,
}

impl LogCapture {
    /// Installs the capture as the global subscriber (once), also printing WARN and above
    /// to stderr.
    pub fn global() -> &'static LogCapture {
        static CAPTURE: OnceLock<&'static LogCapture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture: &'static LogCapture = Box::leak(Box::new(LogCapture {
                lines: Mutex::new(Vec::new()),
                exclusive: tokio::sync::Mutex::new(()),
            }));
            let subscriber = tracing_subscriber::registry().with(Recorder(capture)).with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
            );
            tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
            capture
        })
    }

    /// Serializes the tests of this binary that read the capture (or time anything).
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.exclusive.lock().await
    }

    /// Everything logged from `since` on.
    pub fn since(&self, since: Instant) -> Vec<Line> {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| l.at >= since).cloned().collect()
    }

    /// The WARN and ERROR lines from `since` on, counted by problem, most first.
    pub fn warnings_by_problem(&self, since: Instant) -> Vec<(String, usize)> {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for line in self.since(since) {
            if line.level <= Level::WARN {
                *counts.entry(line.problem).or_default() += 1;
            }
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by_key(|(_, lines)| std::cmp::Reverse(*lines));
        counts
    }
}

struct Recorder(&'static LogCapture);

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() > Level::DEBUG {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let mut problem = format!(
            "{}:{}",
            metadata.file().unwrap_or(metadata.target()),
            metadata.line().unwrap_or_default()
        );
        if let Some(event) = text.event {
            problem = format!("{problem} event={event}");
        }
        let line = Line {
            at: Instant::now(),
            level: *metadata.level(),
            problem,
            text: text.text,
        };
        self.0.lines.lock().unwrap().push(line);
    }
}

/// An event's message and fields as text, and its `event` field.
#[derive(Default)]
struct Text {
    text: String,
    event: Option<String>,
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.text, "{value:?} ");
            }
            name => {
                if name == "event" {
                    self.event = Some(format!("{value:?}"));
                }
                let _ = write!(self.text, "{name}={value:?} ");
            }
        }
    }
}
