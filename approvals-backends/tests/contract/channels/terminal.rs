//! The terminal: one pseudo-terminal per reviewer, each prompting as its
//! reviewer; votes are lines typed on its keyboard side.

use std::collections::HashMap;
use std::sync::Mutex;

use approvals_backends::terminal::{self, TerminalChannel};
use approvals_core::{Channel, Choice, RequestId};
use approvals_test_support::pty::Pty;

use crate::{Answer, ChannelUnderTest, Scenario, Target, Unsupported, eventually};

/// The end of every prompt (`[a/d/s]`, or `[a/d/e/s]` for a request that
/// takes edits).
const PROMPT: &str = "or skip? [";

/// What the terminal says when the request on screen was edited elsewhere
/// before the answer: it asks again about the new version.
const ASKED_AGAIN: &str = "it is asked again, as the new version.";

/// One reviewer's pseudo-terminal, and how many prompts they answered.
struct Screen {
    pty: Pty,
    answered: Mutex<usize>,
}

impl Screen {
    /// Waits until the screen, from byte `from` on, shows `text`.
    async fn wait_for(&self, from: usize, what: &str, text: &str) -> String {
        eventually(what, || async {
            let screen = self.pty.screen();
            screen[from..].contains(text).then_some(screen)
        })
        .await
    }
}

/// A terminal per reviewer, each a channel of its own.
pub(crate) struct Terminal {
    screens: HashMap<&'static str, Screen>,
}

impl ChannelUnderTest for Terminal {
    const NAME: &'static str = "terminal";

    async fn start(reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let mut screens = HashMap::new();
        let mut channels: Vec<Box<dyn Channel>> = Vec::new();
        for reviewer in reviewers {
            let (pty, follower) = Pty::open();
            let terminal = terminal::Terminal::from_file(follower).unwrap();
            let screen = Screen {
                pty,
                answered: Mutex::new(0),
            };
            screens.insert(*reviewer, screen);
            channels.push(Box::new(TerminalChannel::on(terminal).voter(*reviewer)));
        }
        (Self { screens }, channels)
    }

    async fn delivered(&self, id: &RequestId) {
        for screen in self.screens.values() {
            screen
                .wait_for(0, "the request on screen", id.as_str())
                .await;
            screen.wait_for(0, "the prompt", PROMPT).await;
        }
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        let Target::Shown(_) = target else {
            return Answer::Other("a terminal votes on the request on screen only".to_owned());
        };
        let screen = &self.screens[reviewer];
        loop {
            let answered = *screen.answered.lock().unwrap();
            // The prompt for this answer.
            eventually("the prompt", || async {
                (screen.pty.screen().matches(PROMPT).count() > answered).then_some(())
            })
            .await;
            let from = screen.pty.screen().len();
            match &choice {
                Choice::Approve => screen.pty.type_line("a"),
                Choice::Deny { reason } => {
                    screen.pty.type_line("d");
                    screen.wait_for(from, "the reason prompt", "Reason").await;
                    screen.pty.type_line(reason.as_deref().unwrap_or_default());
                }
            }
            *screen.answered.lock().unwrap() += 1;
            let line = eventually("the answer", || async {
                let shown = screen.pty.screen();
                let after = &shown[from..];
                let at = after
                    .find("Counted: ")
                    .or_else(|| after.find("Not counted: "))
                    .or_else(|| after.find(ASKED_AGAIN))?;
                let line = &after[at..];
                line.find('\n').map(|end| line[..end].trim_end().to_owned())
            })
            .await;
            if line.starts_with(ASKED_AGAIN) {
                // The version answered was replaced: answer the new one.
                continue;
            }
            if line.starts_with("Counted: ") {
                return Answer::Counted(line);
            }
            return Answer::from_text(&line, "Not counted: ", ".").unwrap_or(Answer::Other(line));
        }
    }

    /// Everything `reviewer`'s terminal has shown.
    async fn shown(&self, reviewer: &str, _id: &RequestId) -> String {
        self.screens[reviewer].pty.screen()
    }

    fn unsupported(scenario: Scenario) -> Option<Unsupported> {
        let why = match scenario {
            Scenario::UnknownRequest => {
                "a terminal votes only on the request it shows: there is no id to type"
            }
            Scenario::FingerprintMismatch => {
                "a terminal casts its vote with the fingerprint the request was delivered with \
                 (Ballot::new): there is no fingerprint to type"
            }
            Scenario::DuplicateVote => {
                "a terminal asks once per request: after a vote counts it moves on, so the same \
                 person cannot answer the same request twice"
            }
            Scenario::UpdatedOnEscalation => {
                "TerminalChannel keeps Channel::escalated's default: nothing is written when a \
                 request escalates (the added approver's own terminal prompts from the start)"
            }
            _ => return None,
        };
        Some(Unsupported(why))
    }
}
