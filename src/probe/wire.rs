//! A protocol conversation on a probe's connection, for the database probes: every write
//! and read runs under the deadline, and every read lands in a buffer of fixed size, so a
//! server that stalls costs at most the deadline and one that floods at most a few KiB.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use super::Budget;
use crate::error::{Error, Phase};
use crate::net::{DeadlineStream, closed, io_failure};
use crate::outcome::{cap, printable};

/// Quoted server text is cut to this many bytes; the line has other things to say.
const QUOTE_MAX: usize = 120;
/// Of a server that speaks another protocol, the line shows no more than this.
const STRANGER_MAX: usize = 48;

pub struct Wire {
    stream: DeadlineStream,
}

impl Wire {
    pub fn new(stream: TcpStream, budget: &Budget) -> Wire {
        Wire {
            stream: DeadlineStream {
                stream,
                deadline: budget.deadline,
            },
        }
    }

    pub fn send(&mut self, bytes: &[u8], phase: Phase) -> Result<(), Error> {
        self.stream
            .write_all(bytes)
            .map_err(|e| io_failure(&e, phase))
    }

    /// Reads into `buffer[filled..]` until at least `want` bytes are there (`want` is at
    /// most the buffer's length), and returns how many are.
    pub fn fill(
        &mut self,
        buffer: &mut [u8],
        mut filled: usize,
        want: usize,
        phase: Phase,
    ) -> Result<usize, Error> {
        while filled < want.min(buffer.len()) {
            filled += self.read_some(&mut buffer[filled..], phase)?;
        }
        Ok(filled)
    }

    /// One read of whatever has arrived, at least one byte.
    pub fn read_some(&mut self, buffer: &mut [u8], phase: Phase) -> Result<usize, Error> {
        match self.stream.read(buffer) {
            Ok(0) => Err(closed(phase)),
            Ok(read) => Ok(read),
            Err(e) => Err(io_failure(&e, phase)),
        }
    }

    /// Closes with a FIN, so the server logs no aborted connection where it can help it.
    pub fn close(self) {
        self.stream.stream.shutdown(Shutdown::Write).ok();
    }
}

/// Server text for the output line: up to its first line break, printable, and short.
pub fn quote(text: &str) -> String {
    let first_line = text.split(['\r', '\n']).next().unwrap_or_default();
    cap(&printable(first_line.trim()), QUOTE_MAX)
}

/// What a server that speaks another protocol said, for "not a ... server (it said ...)":
/// its first line, in ASCII, with '?' for anything else (binary, most likely).
pub fn stranger(bytes: &[u8]) -> String {
    let first_line = bytes.split(|&b| b == b'\r' || b == b'\n').next();
    let ascii: String = first_line
        .unwrap_or_default()
        .iter()
        .map(|&b| match b {
            b' '..=b'~' => char::from(b),
            _ => '?',
        })
        .collect();
    format!("it said '{}'", cap(&ascii, STRANGER_MAX))
}
