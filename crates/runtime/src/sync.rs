//! The message channel between the runtime and a container's init while it is being set up:
//! a SOCK_SEQPACKET pair, one message per packet, optionally carrying a file descriptor.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};

use crate::error::{Context, Error, Result};

/// One message on the channel.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// Parent → child: id maps written; carry on.
    Proceed,
    /// Parent → child: the rootfs, bound by the runtime in the child's mount namespace (the fd
    /// rides along) because a user namespace's root may not be able to reach it.
    PreparedRoot,
    /// Parent → child: the child is in the container's cgroup (written while it builds mounts).
    CgroupJoined,
    /// Child → parent: the mounts are in place; run prestart and createRuntime hooks.
    RunHooks,
    /// Parent → child: the hooks ran; carries the state document for the container's own hooks.
    HooksDone(String),
    /// Child → parent: everything is set up; the container is created.
    Ready,
    /// Parent → child (`run` only): exec the user's process now.
    Start,
    /// Child → parent: the pty master of a terminal container (the fd rides along).
    PtyMaster,
    /// Child → parent: set-up failed with this message.
    Failed(String),
}

impl Message {
    fn encode(&self) -> Vec<u8> {
        let (tag, text) = match self {
            Message::Proceed => (b'p', ""),
            Message::CgroupJoined => (b'c', ""),
            Message::PreparedRoot => (b'f', ""),
            Message::RunHooks => (b'h', ""),
            Message::HooksDone(state) => (b'd', state.as_str()),
            Message::Ready => (b'r', ""),
            Message::Start => (b's', ""),
            Message::PtyMaster => (b't', ""),
            Message::Failed(text) => (b'e', text.as_str()),
        };
        let mut buf = vec![tag];
        buf.extend_from_slice(text.as_bytes());
        buf
    }

    fn decode(buf: &[u8]) -> Result<Self> {
        let text = || String::from_utf8_lossy(&buf[1..]).into_owned();
        Ok(match buf.first() {
            Some(b'p') => Message::Proceed,
            Some(b'c') => Message::CgroupJoined,
            Some(b'f') => Message::PreparedRoot,
            Some(b'h') => Message::RunHooks,
            Some(b'd') => Message::HooksDone(text()),
            Some(b'r') => Message::Ready,
            Some(b's') => Message::Start,
            Some(b't') => Message::PtyMaster,
            Some(b'e') => Message::Failed(text()),
            _ => return Err(Error::Init(format!("unexpected sync message {buf:?}"))),
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(OwnedFd);

/// Creates a connected pair (close-on-exec, so the child's end closes when it execs).
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context(|| "create sync socket pair")?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Sends a message, with `fd` attached if given.
    pub fn send(&self, message: &Message, fd: Option<RawFd>) -> Result<()> {
        let buf = message.encode();
        let iov = [IoSlice::new(&buf)];
        let fds = fd.map(|f| [f]);
        let cmsgs: Vec<ControlMessage> = fds
            .as_ref()
            .map(|f| vec![ControlMessage::ScmRights(f)])
            .unwrap_or_default();
        sendmsg::<()>(self.0.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None)
            .context(|| "send on sync socket")?;
        Ok(())
    }

    /// Receives the next message; `None` when the other end closed (e.g. the child exec'd).
    pub fn recv(&self) -> Result<Option<(Message, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 4096];
        let (len, fd) = loop {
            match berth_sys::recv_with_fd(self.0.as_fd(), &mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.context(|| "receive on sync socket")?,
            }
        };
        if len == 0 {
            return Ok(None);
        }
        Ok(Some((Message::decode(&buf[..len])?, fd)))
    }

    /// Receives a message and checks it is the expected one.
    pub fn expect(&self, expected: Message) -> Result<()> {
        match self.recv()? {
            Some((m, _)) if m == expected => Ok(()),
            Some((Message::Failed(text), _)) => Err(Error::Init(text)),
            Some((other, _)) => Err(Error::Init(format!(
                "expected {expected:?} from the runtime, got {other:?}"
            ))),
            None => Err(Error::Init(format!(
                "the other side closed the sync socket while waiting for {expected:?}"
            ))),
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}
