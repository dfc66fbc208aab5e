//! The agent's own memory under `$GITOPS_AGENT_HOME/state`: the infra_meta section of each
//! app as last applied successfully (the fifth drift trigger, SPEC §5).

use std::path::Path;

use crate::error::Result;
use crate::layout;

/// The section last applied for `app`, if any.
pub fn applied(dir: &Path, app: &str) -> Option<String> {
    std::fs::read_to_string(layout::applied_record(dir, app)).ok()
}

/// Remember `section` as applied for `app` (atomically: a crash keeps the old record).
pub fn record_applied(dir: &Path, app: &str, section: &str) -> Result<()> {
    // 0600: the agent's own memory is nobody else's business (SPEC §10).
    crate::atomic::write(
        &layout::applied_record(dir, app),
        section.as_bytes(),
        Some(0o600),
    )
}
