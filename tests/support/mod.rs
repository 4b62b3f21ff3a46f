//! Scripted network peers for tests: an HTTP stub that answers from a list of replies and records
//! what it received, a TCP port that opens on cue, and bounded waiting. Everything listens on
//! `127.0.0.1:0` only, and stops by itself when dropped.

mod http_stub;
mod procs;
mod reply;
mod request;
mod stop;
mod tcp_gate;
mod wait;

pub(crate) use http_stub::HttpStub;
pub(crate) use procs::{command_lines, marker, running_with};
pub(crate) use reply::Reply;
pub(crate) use request::Request;
pub(crate) use tcp_gate::TcpGate;
pub(crate) use wait::{exit_code, wait_until};
