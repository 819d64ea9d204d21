//! What one call's `Store` holds: a WASI context that grants nothing, the
//! resource limiter, the run log (the `log` import plus captured
//! stdout/stderr), all bounded, and what the host imports may reach.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::host_api::HostAccess;

/// Data of a `Store` for one plugin call.
pub(crate) struct StoreState {
    /// Built on the guest's first WASI call: a function that prints nothing
    /// and reads no clock never pays for it (a few microseconds a call).
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) log: RunLog,
    /// The host API of contract 0.2.0: refused in functions, gated in handlers.
    pub(crate) host: HostAccess,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (stdout, stderr) = (&self.stdout, &self.stderr);
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| wasi_ctx(stdout, stderr)),
            table: &mut self.table,
        }
    }
}

/// A WASI context with no ambient authority: no preopened directories,
/// environment, arguments or network (name lookup, TCP and UDP all
/// refused); stdin is empty; stdout and stderr go to the run log. Clocks
/// are frozen and randomness is a fixed sequence so a function is
/// deterministic: same input, same output.
fn wasi_ctx(stdout: &CapturedOutput, stderr: &CapturedOutput) -> WasiCtx {
    let mut builder = WasiCtx::builder();
    builder
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_ip_name_lookup(false)
        .allow_tcp(false)
        .allow_udp(false)
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .secure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM.to_vec()))
        .insecure_random(wasmtime_wasi::Deterministic::new(FIXED_RANDOM.to_vec()))
        .insecure_random_seed(0x5eed);
    builder.build()
}

impl StoreState {
    pub(crate) fn new(memory_limit: usize, log_limit: usize, host: HostAccess) -> Self {
        StoreState {
            wasi: None,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(memory_limit),
            log: RunLog::new(log_limit),
            host,
            stdout: CapturedOutput::new(log_limit),
            stderr: CapturedOutput::new(log_limit),
        }
    }

    /// The last `max` bytes the guest wrote to stderr (a Rust panic message
    /// ends up there), lossily decoded.
    pub(crate) fn stderr_tail(&self, max: usize) -> String {
        self.stderr.tail(max)
    }

    /// The run log, with captured stdout and stderr appended line by line.
    pub(crate) fn into_log(mut self) -> Vec<String> {
        for (name, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (text, dropped) = pipe.take();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.log.push(name, line);
            }
            if dropped > 0 {
                self.log.note_dropped(dropped);
            }
        }
        self.log.finish()
    }
}

const FIXED_RANDOM: [u8; 16] = [
    0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a, 0x7c, 0x15, 0xf3, 0x9c, 0xc0, 0x60, 0x5c, 0xed, 0xc8, 0x34,
];

struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Limits growth of memories and tables and remembers a refusal: the guest
/// usually reacts to a failed `memory.grow` by aborting, and the trap it
/// raises then says nothing about memory.
pub(crate) struct CallLimiter {
    memory_limit: usize,
    /// The size a refused `memory.grow` asked for.
    pub(crate) refused_memory: Option<usize>,
}

impl CallLimiter {
    fn new(memory_limit: usize) -> Self {
        CallLimiter {
            memory_limit,
            refused_memory: None,
        }
    }
}

/// Tables hold function references; generous, but not unbounded.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_limit && maximum.is_none_or(|max| desired <= max);
        if !allowed {
            self.refused_memory = Some(desired);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The pool's own limit refused it (same limit as ours, so rare).
        self.refused_memory.get_or_insert(self.memory_limit);
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }

    // A wasip2 component is several core instances (the program plus
    // adapter shims), each possibly with a table; one memory in practice.
    fn instances(&self) -> usize {
        32
    }
    fn tables(&self) -> usize {
        32
    }
    fn memories(&self) -> usize {
        4
    }
}

/// The log of one run, bounded in bytes; what does not fit is counted and
/// summarised in a last line.
pub(crate) struct RunLog {
    lines: Vec<String>,
    used: usize,
    limit: usize,
    dropped: usize,
}

impl RunLog {
    fn new(limit: usize) -> Self {
        RunLog {
            lines: Vec::new(),
            used: 0,
            limit,
            dropped: 0,
        }
    }

    /// Append `[level] message`, cut at the remaining budget.
    pub(crate) fn push(&mut self, level: &str, message: &str) {
        let line = format!("[{level}] {message}");
        let room = self.limit.saturating_sub(self.used);
        if line.len() <= room {
            self.used += line.len();
            self.lines.push(line);
        } else {
            let cut = floor_char_boundary(&line, room);
            if cut > level.len() + 3 {
                self.lines.push(line[..cut].to_owned());
            }
            self.used = self.limit;
            self.dropped += line.len() - cut;
        }
    }

    fn note_dropped(&mut self, bytes: usize) {
        self.dropped += bytes;
    }

    fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.lines.push(format!(
                "[host] log truncated: {} bytes over the limit of {} bytes were dropped",
                self.dropped, self.limit
            ));
        }
        self.lines
    }
}

pub(crate) fn floor_char_boundary(text: &str, max: usize) -> usize {
    if max >= text.len() {
        return text.len();
    }
    (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// A guest stdout/stderr kept in memory, up to a capacity. Unlike
/// `MemoryOutputPipe`, which traps the guest when full, writes beyond the
/// capacity are counted and dropped: chatty output is not a failure.
#[derive(Clone)]
struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    buffer: Vec<u8>,
    capacity: usize,
    dropped: usize,
}

/// The most a single `check-write` permits; keeps guest writes chunked.
const WRITE_PERMIT: usize = 64 * 1024;

impl CapturedOutput {
    fn new(capacity: usize) -> Self {
        CapturedOutput {
            inner: Arc::new(Mutex::new(Captured {
                buffer: Vec::new(),
                capacity,
                dropped: 0,
            })),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = c.capacity.saturating_sub(c.buffer.len());
        let kept = bytes.len().min(room);
        c.buffer.extend_from_slice(&bytes[..kept]);
        c.dropped += bytes.len() - kept;
    }

    fn tail(&self, max: usize) -> String {
        let c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let start = c.buffer.len().saturating_sub(max);
        String::from_utf8_lossy(&c.buffer[start..])
            .trim()
            .to_owned()
    }

    fn take(&self) -> (String, usize) {
        let mut c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&c.buffer).into_owned();
        c.buffer.clear();
        (text, std::mem::take(&mut c.dropped))
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_log_is_bounded() {
        let mut log = RunLog::new(20);
        log.push("info", "hello");
        log.push("info", "a much longer message that does not fit");
        log.push("warn", "dropped entirely");
        let lines = log.finish();
        assert_eq!(lines[0], "[info] hello");
        assert_eq!(lines[1], "[info] a");
        assert!(lines[2].starts_with("[host] log truncated"), "{lines:?}");
        assert_eq!(lines.iter().take(2).map(String::len).sum::<usize>(), 20);
    }

    #[test]
    fn captured_output_drops_beyond_capacity() {
        let out = CapturedOutput::new(4);
        out.append(b"abcdef");
        assert_eq!(out.tail(10), "abcd");
        assert_eq!(out.take(), ("abcd".to_owned(), 2));
    }
}
