//! A pseudo-terminal: the side a person types into and reads from, and the
//! follower side a terminal channel prompts on.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// The person's side of a pseudo-terminal: a keyboard, and a screen that
/// collects everything written to the terminal.
#[derive(Debug)]
pub struct Pty {
    keyboard: Mutex<File>,
    screen: Arc<Mutex<String>>,
}

impl Pty {
    /// Opens a pseudo-terminal; returns the person's side and the follower
    /// side to prompt on.
    pub fn open() -> (Self, File) {
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
        let pty = Self {
            keyboard: Mutex::new(leader),
            screen,
        };
        (pty, follower)
    }

    /// Everything the terminal has shown so far.
    pub fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until the screen shows `text` `times` times in all (ten
    /// seconds at most), and returns the screen.
    pub async fn wait_for_count(&self, text: &str, times: usize) -> String {
        for _ in 0..1_000 {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the screen never showed {text:?} {times} times:\n{}",
            self.screen()
        );
    }

    /// Waits until the screen shows `text`, and returns the screen.
    pub async fn wait_for(&self, text: &str) -> String {
        self.wait_for_count(text, 1).await
    }

    /// Types `line` and Enter.
    pub fn type_line(&self, line: &str) {
        let mut keyboard = self.keyboard.lock().unwrap();
        keyboard.write_all(line.as_bytes()).unwrap();
        keyboard.write_all(b"\n").unwrap();
    }
}
