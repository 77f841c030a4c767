//! `prodstack-logsink FILE [MAX_BYTES KEEP]`: copies standard input into FILE with size-capped
//! rotation until every writer has closed it (see `stack::logsink`).

use std::process::ExitCode;

use stack::logsink::{self, LogLimits};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: {} FILE [MAX_BYTES KEEP]", logsink::BINARY);
        return ExitCode::from(2);
    };
    let mut limits = LogLimits::default();
    if let (Some(max), Some(keep)) = (args.get(1), args.get(2)) {
        match (max.parse(), keep.parse()) {
            (Ok(max_bytes), Ok(keep)) => limits = LogLimits { max_bytes, keep },
            _ => {
                eprintln!("{}: MAX_BYTES and KEEP must be integers", logsink::BINARY);
                return ExitCode::from(2);
            }
        }
    }
    match logsink::copy(std::io::stdin().lock(), std::path::Path::new(path), limits) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}: {err}", logsink::BINARY);
            ExitCode::FAILURE
        }
    }
}
