//! `prodstack-supervisor --home DIR`: restarts the crashed services of the stack running from
//! DIR until that stack is taken down (see `stack::supervise::watch`). `prodstack up` starts
//! it; nobody else needs to.

use std::process::ExitCode;

use stack::supervise::watch;
use stack::Home;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flag, dir] = args.as_slice() else {
        say_usage();
        return ExitCode::from(2);
    };
    if flag != "--home" {
        say_usage();
        return ExitCode::from(2);
    }
    let home = Home::new(dir);
    // Never `eprintln!`: it panics when the log pipe is gone, which would end supervision.
    let mut say = |line: &str| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{} {line}", stack::process::utc_now());
    };
    match watch::watch(&home, &mut say) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            say(&format!("stopped by an error: {err}"));
            ExitCode::FAILURE
        }
    }
}

fn say_usage() {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "usage: {} --home DIR", watch::BINARY);
}
