//! The terminal: one pseudo-terminal per reviewer, each prompting as its
//! reviewer; votes are lines typed on its keyboard side.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};

use approvals_backends::terminal::{self, TerminalChannel};
use approvals_core::{Channel, Choice, RequestId};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

use crate::{Answer, ChannelUnderTest, Scenario, Target, Unsupported, eventually};

const PROMPT: &str = "Approve, deny or skip? [a/d/s] ";

/// A pseudo-terminal: what a person types and what they are shown.
struct Pty {
    keyboard: Mutex<File>,
    screen: Arc<Mutex<String>>,
    /// How many prompts have been answered.
    answered: Mutex<usize>,
}

impl Pty {
    fn open() -> (Self, terminal::Terminal) {
        let leader = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&leader).unwrap();
        unlockpt(&leader).unwrap();
        let name = ptsname(&leader, Vec::new()).unwrap();
        let follower = OpenOptions::new()
            .read(true)
            .write(true)
            .open(OsStr::from_bytes(name.as_bytes()))
            .unwrap();
        let leader = File::from(leader);
        let mut reader = leader.try_clone().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let shown = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Ends when the follower side closes (EIO).
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let terminal = terminal::Terminal::from_file(follower).unwrap();
        let pty = Self {
            keyboard: Mutex::new(leader),
            screen,
            answered: Mutex::new(0),
        };
        (pty, terminal)
    }

    fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until the screen, from byte `from` on, shows `text`.
    async fn wait_for(&self, from: usize, what: &str, text: &str) -> String {
        eventually(what, || async {
            let screen = self.screen();
            screen[from..].contains(text).then_some(screen)
        })
        .await
    }

    fn type_line(&self, line: &str) {
        let mut keyboard = self.keyboard.lock().unwrap();
        keyboard.write_all(line.as_bytes()).unwrap();
        keyboard.write_all(b"\n").unwrap();
    }
}

/// A terminal per reviewer, each a channel of its own.
pub(crate) struct Terminal {
    ptys: HashMap<&'static str, Pty>,
}

impl ChannelUnderTest for Terminal {
    const NAME: &'static str = "terminal";

    async fn start(reviewers: &[&'static str]) -> (Self, Vec<Box<dyn Channel>>) {
        let mut ptys = HashMap::new();
        let mut channels: Vec<Box<dyn Channel>> = Vec::new();
        for reviewer in reviewers {
            let (pty, terminal) = Pty::open();
            ptys.insert(*reviewer, pty);
            channels.push(Box::new(TerminalChannel::on(terminal).voter(*reviewer)));
        }
        (Self { ptys }, channels)
    }

    async fn delivered(&self, id: &RequestId) {
        for pty in self.ptys.values() {
            pty.wait_for(0, "the request on screen", id.as_str()).await;
            pty.wait_for(0, "the prompt", PROMPT).await;
        }
    }

    async fn vote(&self, reviewer: &str, target: &Target, choice: Choice) -> Answer {
        let Target::Shown(_) = target else {
            return Answer::Other("a terminal votes on the request on screen only".to_owned());
        };
        let pty = &self.ptys[reviewer];
        let answered = *pty.answered.lock().unwrap();
        // The prompt for this answer.
        eventually("the prompt", || async {
            (pty.screen().matches(PROMPT).count() > answered).then_some(())
        })
        .await;
        let from = pty.screen().len();
        match choice {
            Choice::Approve => pty.type_line("a"),
            Choice::Deny { reason } => {
                pty.type_line("d");
                pty.wait_for(from, "the reason prompt", "Reason").await;
                pty.type_line(reason.as_deref().unwrap_or_default());
            }
        }
        *pty.answered.lock().unwrap() += 1;
        let screen = eventually("the answer", || async {
            let screen = pty.screen();
            let after = &screen[from..];
            let at = after
                .find("Counted: ")
                .or_else(|| after.find("Not counted: "))?;
            let line = &after[at..];
            line.find('\n').map(|end| line[..end].trim_end().to_owned())
        })
        .await;
        if screen.starts_with("Counted: ") {
            return Answer::Counted(screen);
        }
        Answer::from_text(&screen, "Not counted: ", ".").unwrap_or(Answer::Other(screen))
    }

    /// Everything `reviewer`'s terminal has shown.
    async fn shown(&self, reviewer: &str, _id: &RequestId) -> String {
        self.ptys[reviewer].screen()
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
