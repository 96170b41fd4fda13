//! The last lines a container printed, for startup errors.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use testcontainers::core::logs::LogFrame;

/// Log lines kept in memory per container, and lines shown in a startup error.
const LOG_BUFFER_LINES: usize = 200;
pub(super) const LOG_TAIL_LINES: usize = 20;

/// The last lines a container printed (stdout and stderr, in order), with the password
/// masked, collected by a testcontainers log consumer from the moment it starts.
#[derive(Clone)]
pub(super) struct LogTail {
    inner: Arc<Mutex<LogTailInner>>,
    password: Arc<str>,
}

#[derive(Default)]
struct LogTailInner {
    lines: VecDeque<String>,
    partial_stdout: String,
    partial_stderr: String,
}

impl LogTail {
    pub(super) fn new(password: &str) -> LogTail {
        LogTail {
            inner: Arc::default(),
            password: password.into(),
        }
    }

    pub(super) fn push(&self, frame: &LogFrame) {
        let text = String::from_utf8_lossy(frame.bytes());
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let LogTailInner {
            lines,
            partial_stdout,
            partial_stderr,
        } = &mut *inner;
        let partial = match frame {
            LogFrame::StdOut(_) => partial_stdout,
            LogFrame::StdErr(_) => partial_stderr,
        };
        partial.push_str(&text);
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if !line.trim().is_empty() {
                lines.push_back(line.replace(&*self.password, "***"));
                if lines.len() > LOG_BUFFER_LINES {
                    lines.pop_front();
                }
            }
        }
    }

    pub(super) fn last(&self, count: usize) -> Vec<String> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut lines: Vec<String> = inner.lines.iter().cloned().collect();
        for partial in [&inner.partial_stdout, &inner.partial_stderr] {
            if !partial.trim().is_empty() {
                lines.push(partial.trim_end().replace(&*self.password, "***"));
            }
        }
        let skip = lines.len().saturating_sub(count);
        lines.split_off(skip)
    }
}
