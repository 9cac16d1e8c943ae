//! Output: plain text, coloured only when stdout is a terminal (or when
//! asked), and never a panic on a closed pipe.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Where results and errors go.
pub(crate) struct Out {
    color: bool,
    error_color: bool,
}

/// A colour for a word.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tone {
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

impl Out {
    pub(crate) fn new(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |is_terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color,
        };
        Self {
            color: decide(io::stdout().is_terminal()),
            error_color: decide(io::stderr().is_terminal()),
        }
    }

    /// `text` in `tone`, for stdout.
    pub(crate) fn paint(&self, tone: Tone, text: impl Display) -> String {
        paint(self.color, tone, text)
    }

    /// A line on stdout.
    pub(crate) fn line(&self, text: impl Display) {
        let mut stdout = io::stdout().lock();
        // A closed pipe (`approvals audit show log | head`) is not an error.
        let _ = writeln!(stdout, "{text}");
    }

    /// An error on stderr, prefixed with `error:`.
    pub(crate) fn error(&self, text: impl Display) {
        let mut stderr = io::stderr().lock();
        let _ = writeln!(
            stderr,
            "{} {text}",
            paint(self.error_color, Tone::Bad, "error:")
        );
    }

    /// A warning on stderr, prefixed with `warning:`.
    pub(crate) fn warn(&self, text: impl Display) {
        let mut stderr = io::stderr().lock();
        let _ = writeln!(
            stderr,
            "{} {text}",
            paint(self.error_color, Tone::Warn, "warning:")
        );
    }
}

fn paint(color: bool, tone: Tone, text: impl Display) -> String {
    if !color {
        return text.to_string();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Bad => "31",
        Tone::Warn => "33",
        Tone::Dim => "2",
        Tone::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Text from a log or an API without control characters, so that nothing
/// in it can drive the terminal.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}
