//! file:// remotes: `git upload-pack <path>` (or receive-pack) over pipes bounded like a
//! socket (`process`), so a repository on a hung network mount cannot hang the pass.

use std::process::{Command, Stdio};

use gix::bstr::ByteSlice;
use gix::protocol::transport::{Protocol, Service};

use super::budget::Budget;
use super::link::{BoxedTransport, Failure};
use super::process::{MakeCommand, ProcessTransport};
use crate::git::NetOptions;

/// What to tell an operator whose device has no git.
const HINT: &str = "file:// remotes need git on the device (Debian: apt-get install git); git://, http(s):// and ssh do not";

/// `git <service>` rather than `git-<service>`: git finds its own helpers, wherever the
/// distribution put them.
pub fn connect(
    url: gix::url::Url,
    version: Protocol,
    net: &NetOptions,
    failure: &Failure,
    budget: &Budget,
) -> BoxedTransport {
    let path = url.path.to_os_str_lossy().into_owned();
    let make: MakeCommand = Box::new(move |service: Service| {
        let sub = service.as_str().trim_start_matches("git-");
        let mut cmd = Command::new("git");
        cmd.arg(sub).arg(&path).stderr(Stdio::null());
        cmd
    });
    Box::new(
        ProcessTransport::new(url, version, net.timeout, "git", make)
            .with_missing_hint(HINT)
            .recording(failure.clone())
            .budgeted(budget.clone()),
    )
}
