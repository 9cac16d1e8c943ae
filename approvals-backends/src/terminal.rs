//! The terminal channel: a prompt for local development.
//!
//! [`TerminalChannel`] shows each masked request on the terminal and asks
//! approve, deny (with a reason) or skip, voting as the local user (or an
//! identity you configure). The gate judges the vote as any other: the
//! terminal's user cannot approve their own agent's request if they are its
//! requester, and must be an eligible approver.
//!
//! When policy lets reviewers change some arguments, the prompt also offers
//! `e` (edit): the editable fields, without any value that looks masked,
//! are written as a JSON object to a private temporary file and opened in
//! `$VISUAL` or `$EDITOR` (or the [`editor`](TerminalChannel::editor)
//! configured). What the reviewer changed becomes a JSON merge patch that
//! goes to the gate ([`VoteBox::edit`](approvals_core::VoteBox::edit)),
//! which judges it; accepted, it is the reviewer's approval of the new
//! version, refused, the gate's words are shown and the prompt asks again.
//!
//! With no terminal attached (CI, a service, a pipe) delivery fails at once,
//! so the request fails closed instead of waiting for an answer that cannot
//! come.
//!
//! ```no_run
//! use approvals_backends::terminal::TerminalChannel;
//! use approvals_core::{Gate, audit::MemoryAudit};
//!
//! let gate = Gate::builder()
//!     .channel(TerminalChannel::new().voter("me@example.com"))
//!     .audit(MemoryAudit::new())
//!     .build();
//! # let _ = gate;
//! ```

use crate::kit::edit::edit_document;
use crate::kit::{Ledger, lock};
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use approvals_core::{
    Ballot, Channel, ChannelError, Choice, Conclusion, Identity, Progress, Refusal, RequestId,
    Review, VoteBox, VoteOutcome, async_trait,
};

const CHANNEL: &str = "terminal";

/// A terminal to prompt on: its input and output.
pub struct Terminal {
    input: BufReader<File>,
    output: File,
}

/// No terminal could be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError {
    /// The process has no controlling terminal (it runs in CI, as a
    /// service, or detached).
    #[error("no terminal is attached: {0}")]
    NotAttached(#[source] io::Error),
    /// The file given is not a terminal (a pipe, a regular file).
    #[error("the input given is not a terminal")]
    NotATerminal,
    /// The terminal could not be duplicated for output.
    #[error("the terminal could not be opened for writing: {0}")]
    Io(#[source] io::Error),
}

impl Terminal {
    /// The process's controlling terminal (`/dev/tty` on Unix; elsewhere
    /// standard input and error, when both are terminals).
    pub fn controlling() -> Result<Self, TerminalError> {
        #[cfg(unix)]
        {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .map_err(TerminalError::NotAttached)?;
            Self::from_file(file)
        }
        #[cfg(not(unix))]
        {
            if !io::stdin().is_terminal() || !io::stderr().is_terminal() {
                return Err(TerminalError::NotAttached(io::Error::other(
                    "standard input or error is not a terminal",
                )));
            }
            Err(TerminalError::NotAttached(io::Error::other(
                "prompting is supported on Unix terminals only",
            )))
        }
    }

    /// A terminal opened by the caller, such as a pseudo-terminal's
    /// follower side. Refused unless it is a terminal.
    pub fn from_file(file: File) -> Result<Self, TerminalError> {
        if !file.is_terminal() {
            return Err(TerminalError::NotATerminal);
        }
        let output = file.try_clone().map_err(TerminalError::Io)?;
        Ok(Self {
            input: BufReader::new(file),
            output,
        })
    }

    fn write(&mut self, text: &str) -> io::Result<()> {
        self.output.write_all(text.as_bytes())?;
        self.output.flush()
    }

    /// One line of input, trimmed; `None` at end of input.
    fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim().to_owned()))
    }
}

impl fmt::Debug for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Terminal").finish_non_exhaustive()
    }
}

/// A channel that asks on the terminal. See the [module docs](self).
#[derive(Clone)]
pub struct TerminalChannel {
    inner: Arc<Inner>,
}

struct Inner {
    voter: Option<Identity>,
    /// The editor command; `None`: `$VISUAL`, else `$EDITOR`, else `vi`.
    editor: Option<String>,
    state: Mutex<State>,
    /// What was delivered and how it stands.
    ledger: Ledger<()>,
}

#[derive(Default)]
struct State {
    terminal: Option<Terminal>,
    /// Whether a prompt worker is running; it owns the terminal meanwhile.
    prompting: bool,
    /// The requests to prompt for, in order.
    queue: VecDeque<RequestId>,
    /// Where the worker writes notes while it holds the terminal.
    notes: Option<File>,
    /// The request on screen, waiting for the user's answer.
    on_screen: Option<RequestId>,
    /// The request this terminal's user is handing an edit of to the gate.
    editing: Option<RequestId>,
}

impl TerminalChannel {
    /// Prompts on the controlling terminal, as the local user (`$USER`,
    /// else `$USERNAME` or `$LOGNAME`).
    ///
    /// The terminal is opened when the first request arrives; if there is
    /// none, that request fails closed at once.
    pub fn new() -> Self {
        Self::with(None)
    }

    /// Prompts on `terminal`.
    pub fn on(terminal: Terminal) -> Self {
        Self::with(Some(terminal))
    }

    fn with(terminal: Option<Terminal>) -> Self {
        let voter = ["USER", "USERNAME", "LOGNAME"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|name| !name.trim().is_empty())
            .map(Identity::new);
        Self {
            inner: Arc::new(Inner {
                voter,
                editor: None,
                state: Mutex::new(State {
                    terminal,
                    ..State::default()
                }),
                ledger: Ledger::default(),
            }),
        }
    }

    /// Votes as `identity` instead of the local user. Use the identity your
    /// policy names (often an email address), not the login name.
    #[must_use]
    pub fn voter(self, identity: impl Into<Identity>) -> Self {
        let state = std::mem::take(&mut *lock(&self.inner.state));
        Self {
            inner: Arc::new(Inner {
                voter: Some(identity.into()),
                editor: self.inner.editor.clone(),
                state: Mutex::new(state),
                ledger: Ledger::default(),
            }),
        }
    }

    /// The editor to edit a request's arguments with, run by the shell
    /// with the file's path as its last argument (`"code --wait"`,
    /// `"nano"`). Default: `$VISUAL`, else `$EDITOR`, else `vi`.
    #[must_use]
    pub fn editor(self, command: impl Into<String>) -> Self {
        let state = std::mem::take(&mut *lock(&self.inner.state));
        Self {
            inner: Arc::new(Inner {
                voter: self.inner.voter.clone(),
                editor: Some(command.into()),
                state: Mutex::new(state),
                ledger: Ledger::default(),
            }),
        }
    }

    /// The identity votes are cast as, if one is known.
    pub fn identity(&self) -> Option<&Identity> {
        self.inner.voter.as_ref()
    }

    /// Starts the prompt worker on the queue, unless one is running. Without
    /// a terminal, the queue is dropped and the error says why.
    fn prompt(&self, voter: Identity, runtime: tokio::runtime::Handle) -> Result<(), ChannelError> {
        let terminal = {
            let mut state = lock(&self.inner.state);
            if state.prompting {
                return Ok(());
            }
            let terminal = match state.terminal.take() {
                Some(terminal) => terminal,
                // Opening is immediate: without a terminal this fails at
                // once and the request fails closed.
                None => match Terminal::controlling() {
                    Ok(terminal) => terminal,
                    Err(error) => {
                        state.queue.clear();
                        return Err(ChannelError::unavailable(CHANNEL, error.to_string()));
                    }
                },
            };
            state.notes = terminal.output.try_clone().ok();
            state.prompting = true;
            terminal
        };
        // A thread of its own rather than Tokio's blocking pool: a prompt
        // can wait for input forever, and the runtime waits for its
        // blocking pool when it shuts down.
        let approver = self.clone();
        let spawned = std::thread::Builder::new()
            .name("approvals-terminal".into())
            .spawn(move || approver.prompt_all(terminal, &voter, &runtime));
        if let Err(error) = spawned {
            let mut state = lock(&self.inner.state);
            state.queue.clear();
            state.prompting = false;
            state.notes = None;
            return Err(ChannelError::unavailable(
                CHANNEL,
                format!("the prompt could not start: {error}"),
            ));
        }
        Ok(())
    }

    /// Prompts for each queued request until the queue is empty, then gives
    /// the terminal back.
    fn prompt_all(
        &self,
        mut terminal: Terminal,
        voter: &Identity,
        runtime: &tokio::runtime::Handle,
    ) {
        loop {
            let next = {
                let mut state = lock(&self.inner.state);
                loop {
                    match state.queue.pop_front() {
                        // Ended while it waited its turn: nothing to ask.
                        Some(id) if !self.inner.ledger.is_pending(&id) => {}
                        Some(id) => {
                            break self.inner.ledger.review(&id).zip(self.inner.ledger.votes());
                        }
                        None => break None,
                    }
                }
            };
            let Some((request, votes)) = next else {
                let mut state = lock(&self.inner.state);
                // Requests queued while the lock was released are taken next.
                if state.queue.is_empty() {
                    state.terminal = Some(terminal);
                    state.prompting = false;
                    state.notes = None;
                    return;
                }
                continue;
            };
            lock(&self.inner.state).on_screen = Some(request.id.clone());
            let answered = || lock(&self.inner.state).on_screen = None;
            let asked = ask(
                &mut terminal,
                &request,
                voter,
                &votes,
                runtime,
                &answered,
                &self.inner,
            );
            answered();
            match asked {
                Ok(Asked::Done) => {}
                Ok(Asked::EndOfInput) => {
                    tracing::warn!(
                        "the terminal closed; its pending requests wait for other channels or expire"
                    );
                    let mut state = lock(&self.inner.state);
                    state.queue.clear();
                    state.prompting = false;
                    state.notes = None;
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "the terminal could not be used");
                    let mut state = lock(&self.inner.state);
                    state.queue.clear();
                    state.prompting = false;
                    state.notes = None;
                    return;
                }
            }
        }
    }
}

impl Default for TerminalChannel {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TerminalChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalChannel")
            .field("voter", &self.inner.voter)
            .finish_non_exhaustive()
    }
}

enum Asked {
    Done,
    EndOfInput,
}

/// Shows `request` and asks until a vote counts, the user skips, or the
/// request ends.
fn ask(
    terminal: &mut Terminal,
    request: &Review,
    voter: &Identity,
    votes: &VoteBox,
    runtime: &tokio::runtime::Handle,
    answered: &dyn Fn(),
    inner: &Inner,
) -> io::Result<Asked> {
    terminal.write(&describe(request, voter))?;
    let editable = !crate::kit::edit::edit_fields(request).is_empty();
    loop {
        terminal.write(if editable {
            "Approve, deny, edit or skip? [a/d/e/s] "
        } else {
            "Approve, deny or skip? [a/d/s] "
        })?;
        let Some(answer) = terminal.read_line()? else {
            return Ok(Asked::EndOfInput);
        };
        let answer = answer.to_ascii_lowercase();
        if editable && matches!(answer.as_str(), "e" | "edit") {
            lock(&inner.state).editing = Some(request.id.clone());
            let edited = edit(
                terminal,
                request,
                voter,
                votes,
                runtime,
                inner.editor.as_deref(),
            );
            lock(&inner.state).editing = None;
            match edited? {
                Edited::Accepted => {
                    answered();
                    return Ok(Asked::Done);
                }
                Edited::AskAgain => continue,
            }
        }
        let choice = match answer.as_str() {
            "a" | "approve" | "y" | "yes" => Choice::Approve,
            "d" | "deny" | "n" | "no" => {
                let required = if request.deny_reason_required {
                    " (required)"
                } else {
                    ""
                };
                terminal.write(&format!("Reason{required}: "))?;
                let Some(reason) = terminal.read_line()? else {
                    return Ok(Asked::EndOfInput);
                };
                Choice::Deny {
                    reason: Some(reason),
                }
            }
            "s" | "skip" => {
                terminal
                    .write("Skipped: the request waits for other reviewers or its deadline.\n\n")?;
                return Ok(Asked::Done);
            }
            _ if editable => {
                terminal.write("Please answer a (approve), d (deny), e (edit) or s (skip).\n")?;
                continue;
            }
            _ => {
                terminal.write("Please answer a (approve), d (deny) or s (skip).\n")?;
                continue;
            }
        };
        answered();
        if inner
            .ledger
            .review(&request.id)
            .is_some_and(|current| current.fingerprint != request.fingerprint)
        {
            // An edit elsewhere made a new version while the user decided:
            // the vote would name the version shown, which no longer counts.
            terminal.write(
                "The request was edited while you decided: it is asked again, as the new version.\n\n",
            )?;
            return Ok(Asked::Done);
        }
        let ballot = Ballot::new(request, voter.clone(), choice);
        let outcome = runtime.block_on(votes.cast(ballot));
        match outcome {
            VoteOutcome::Counted {
                approvals,
                quorum,
                conclusion,
                ..
            } => {
                let line = match conclusion {
                    Some(conclusion) => format!(
                        "Counted: the request is {}.\n\n",
                        clean(&conclusion.to_string())
                    ),
                    None => format!("Counted: {approvals} of {quorum} approvals so far.\n\n"),
                };
                terminal.write(&line)?;
                return Ok(Asked::Done);
            }
            // The gate refused the reason: ask again.
            VoteOutcome::Refused {
                refusal: refusal @ (Refusal::ReasonRequired | Refusal::ReasonTooLong),
            } => {
                terminal.write(&format!("Not counted: {refusal}.\n"))?;
            }
            VoteOutcome::Refused { refusal } => {
                terminal.write(&format!("Not counted: {refusal}.\n\n"))?;
                return Ok(Asked::Done);
            }
        }
    }
}

/// What came of an edit at the prompt.
enum Edited {
    /// The gate accepted it: it is the reviewer's approval of the new
    /// version.
    Accepted,
    /// Nothing changed: ask again.
    AskAgain,
}

/// Opens the editable fields in the editor, and hands what the reviewer
/// changed to the gate as a merge patch.
fn edit(
    terminal: &mut Terminal,
    request: &Review,
    voter: &Identity,
    votes: &VoteBox,
    runtime: &tokio::runtime::Handle,
    editor: Option<&str>,
) -> io::Result<Edited> {
    let written = edit_document(request);
    let read = match edit_in_editor(terminal, &written, editor) {
        Ok(read) => read,
        Err(problem) => {
            terminal.write(&format!("Nothing was changed: {problem}.\n"))?;
            return Ok(Edited::AskAgain);
        }
    };
    let changes = crate::kit::edit::patch_between(&written, &read);
    let outcome = runtime.block_on(votes.edit(approvals_core::edit::Edit::new(
        request,
        voter.clone(),
        changes,
    )));
    match outcome {
        approvals_core::edit::EditOutcome::Accepted {
            version,
            approvals,
            quorum,
            conclusion,
            ..
        } => {
            let line = match conclusion {
                Some(conclusion) => format!(
                    "Edited (version {version}), and counted: the request is {}.\n\n",
                    clean(&conclusion.to_string())
                ),
                None => format!(
                    "Edited (version {version}), and counted as your approval: {approvals} of {quorum} approvals so far.\n\n"
                ),
            };
            terminal.write(&line)?;
            Ok(Edited::Accepted)
        }
        approvals_core::edit::EditOutcome::Refused { refusal, problem } => {
            let mut line = format!("Not changed: {refusal}.");
            if let Some(problem) = problem {
                line.push_str(&format!(" {}.", clean(&problem.to_string())));
            }
            line.push('\n');
            terminal.write(&line)?;
            Ok(Edited::AskAgain)
        }
        _ => Ok(Edited::AskAgain),
    }
}

/// Writes `document` to a private temporary file, runs the editor on the
/// terminal, and reads the file back; the error says what went wrong,
/// without quoting the file.
fn edit_in_editor(
    terminal: &Terminal,
    document: &serde_json::Value,
    editor: Option<&str>,
) -> Result<serde_json::Value, String> {
    let file = EditFile::create(document)
        .map_err(|error| format!("the file for the edit could not be written ({error})"))?;
    let command = editor
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("VISUAL")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_owned());
    let stdio = |file: &File| file.try_clone().map(std::process::Stdio::from);
    let (stdin, stdout, stderr) = (
        stdio(terminal.input.get_ref()),
        stdio(&terminal.output),
        stdio(&terminal.output),
    );
    let (Ok(stdin), Ok(stdout), Ok(stderr)) = (stdin, stdout, stderr) else {
        return Err("the terminal could not be handed to the editor".to_owned());
    };
    // The shell splits the command as the user wrote it; the path is
    // passed as an argument, never as part of the command text.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("sh")
        .arg(&file.path)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .map_err(|error| format!("the editor could not be started ({error})"))?;
    if !status.success() {
        return Err("the editor exited with an error".to_owned());
    }
    let text = std::fs::read(&file.path)
        .map_err(|error| format!("the edited file could not be read ({error})"))?;
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        _ => Err("the edited file is not a JSON object".to_owned()),
    }
}

/// A temporary file readable by its owner only, removed when dropped.
struct EditFile {
    path: std::path::PathBuf,
}

impl EditFile {
    fn create(document: &serde_json::Value) -> io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut text = serde_json::to_string_pretty(document).map_err(io::Error::other)?;
        text.push('\n');
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        for _ in 0..16 {
            let path = std::env::temp_dir().join(format!(
                "approvals-edit-{}-{}-{:x}.json",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.subsec_nanos()),
            ));
            match options.open(&path) {
                Ok(mut file) => {
                    let file_path = Self { path };
                    file.write_all(text.as_bytes())?;
                    return Ok(file_path);
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        Err(io::Error::other("no free name for a temporary file"))
    }
}

impl Drop for EditFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The masked request as shown on the terminal.
fn describe(request: &Review, voter: &Identity) -> String {
    let arguments = serde_json::to_string_pretty(request.arguments.as_value())
        .unwrap_or_else(|_| request.arguments.to_string());
    let approvers: Vec<&str> = request.approvers.iter().map(Identity::as_str).collect();
    let mut text = String::new();
    text.push_str("\n== Approval requested ==\n");
    let mut field = |name: &str, value: &str| {
        text.push_str(&format!("{name:<14}{}\n", clean(value)));
    };
    field("id", request.id.as_str());
    field("action", &request.action);
    if !request.description.is_empty() {
        field("description", &request.description);
    }
    field("risk", request.risk.as_str());
    field("requester", request.requester.as_str());
    if let Some(justification) = &request.justification {
        field("justification", justification);
    }
    field(
        "approvers",
        &format!("{} (quorum {})", approvers.join(", "), request.quorum),
    );
    field("deadline", &request.deadline.to_string());
    field("fingerprint", &request.fingerprint.to_hex());
    if request.version > 1 {
        field(
            "version",
            &format!("{} (edited by a reviewer)", request.version),
        );
    }
    field("you vote as", voter.as_str());
    text.push_str("arguments (masked):\n");
    for line in arguments.lines() {
        text.push_str("  ");
        text.push_str(&clean(line));
        text.push('\n');
    }
    text
}

/// Text from a request without control characters, so that nothing in it
/// can move the cursor, recolour or rewrite the terminal.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

#[async_trait]
impl Channel for TerminalChannel {
    fn name(&self) -> &str {
        CHANNEL
    }

    fn attach(&self, votes: VoteBox) {
        self.inner.ledger.attach(votes);
    }

    async fn deliver(&self, request: &Review, votes: VoteBox) -> Result<(), ChannelError> {
        let voter = self.inner.voter.clone().ok_or_else(|| {
            ChannelError::rejected(
                CHANNEL,
                "no identity to vote as: the local user is unknown; set one with `voter`",
            )
        })?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| ChannelError::unavailable(CHANNEL, "no Tokio runtime to prompt from"))?;
        self.inner.ledger.delivered(request, votes, ());
        lock(&self.inner.state).queue.push_back(request.id.clone());
        self.prompt(voter, runtime).inspect_err(|_| {
            self.inner.ledger.forget(&request.id);
        })
    }

    /// An accepted edit made a new version, which needs approvals of its
    /// own: the terminal asks about it (next, when the version before is on
    /// screen, with a note saying so). An edit made at this terminal is its
    /// user's approval of the new version, and is not asked again.
    async fn revised(&self, request: &Review) -> Result<(), ChannelError> {
        if self
            .inner
            .ledger
            .revised(request, |delivery| delivery.progress = None)
            .is_none()
        {
            return Ok(());
        }
        let Some(voter) = self.inner.voter.clone() else {
            return Ok(());
        };
        {
            let mut state = lock(&self.inner.state);
            if state.editing.as_ref() == Some(&request.id) {
                return Ok(());
            }
            let on_screen = state.on_screen.as_ref() == Some(&request.id);
            if !state.queue.contains(&request.id) {
                if on_screen {
                    state.queue.push_front(request.id.clone());
                } else {
                    state.queue.push_back(request.id.clone());
                }
            }
            if let (true, Some(notes)) = (on_screen, state.notes.as_mut()) {
                let line = format!(
                    "\n[request {} was edited: it is now version {} (fingerprint {}), and is asked again]\n",
                    clean(request.id.as_str()),
                    request.version,
                    request.fingerprint.to_hex()
                );
                if let Err(error) = notes.write_all(line.as_bytes()) {
                    tracing::debug!(%error, "a note could not be written to the terminal");
                }
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        if let Err(error) = self.prompt(voter, runtime) {
            tracing::warn!(request_id = %request.id, %error, "the edited request could not be asked about");
        }
        Ok(())
    }

    async fn progress(&self, request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        if self
            .inner
            .ledger
            .progressed(&request.id, progress, |_| ())
            .is_none()
        {
            return Ok(());
        }
        let mut state = lock(&self.inner.state);
        let on_screen = state.on_screen.as_ref() == Some(&request.id);
        if let (true, Some(notes)) = (on_screen, state.notes.as_mut()) {
            // An approval through another channel, while the user decides.
            let approved: Vec<&str> = progress.approved_by.iter().map(Identity::as_str).collect();
            let line = format!(
                "\n[approved so far ({} of {}): {}]\n",
                approved.len(),
                progress.quorum.max(1),
                clean(&approved.join(", "))
            );
            if let Err(error) = notes.write_all(line.as_bytes()) {
                tracing::debug!(%error, "a note could not be written to the terminal");
            }
        }
        Ok(())
    }

    async fn concluded(
        &self,
        request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        self.inner.ledger.concluded(&request.id, conclusion, |_| ());
        let mut state = lock(&self.inner.state);
        let on_screen = state.on_screen.as_ref() == Some(&request.id);
        state.queue.retain(|queued| queued != &request.id);
        if let (true, Some(notes)) = (on_screen, state.notes.as_mut()) {
            // Tell the user when the request on screen ends without them.
            let line = format!(
                "\n[request {} ended: {}]\n",
                clean(request.id.as_str()),
                clean(&conclusion.to_string())
            );
            if let Err(error) = notes.write_all(line.as_bytes()) {
                tracing::debug!(%error, "a note could not be written to the terminal");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(clean("ok\u{1b}[2Jnow\r"), "ok\u{fffd}[2Jnow\u{fffd}");
    }

    #[test]
    fn a_file_that_is_not_a_terminal_is_refused() {
        let file = File::open(env!("CARGO_MANIFEST_DIR").to_owned() + "/Cargo.toml").unwrap();
        assert!(matches!(
            Terminal::from_file(file),
            Err(TerminalError::NotATerminal)
        ));
    }
}
