//! `lathe tap`: what runs at the far end of `ssh`. It connects to the
//! newest lathe's monitor socket on this machine (or process `--pid`'s) and
//! relays it: socket → stdout, stdin → socket. It ends when either side
//! does.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use super::socket;

/// Relay the monitor socket of process `pid` (None: the newest publisher)
/// to stdin/stdout until either side closes.
pub fn run(pid: Option<u32>) -> Result<(), String> {
    let path = socket::find_socket(pid)?;
    let sock = UnixStream::connect(&path)
        .map_err(|e| format!("{}: cannot connect: {e}", path.display()))?;
    let mut up = sock
        .try_clone()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // stdin → socket (the listener's hello and reports).
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if up.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        // The listener is gone: end the connection, which ends the relay.
        let _ = up.shutdown(std::net::Shutdown::Both);
    });
    // socket → stdout (the stream).
    let mut down = sock;
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match down.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if stdout
                    .write_all(&buf[..n])
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(()),
        }
    }
}
