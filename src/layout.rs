//! Where things live under `$GITOPS_AGENT_HOME` (SPEC §3): byte for byte the Python agent's
//! clone folders, so a migrated device reuses them, plus the agent's own state.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::url::{self, Url};

/// The state root and the paths derived from it.
#[derive(Debug, Clone)]
pub struct Layout {
    pub home: PathBuf,
}

impl Layout {
    /// `$GITOPS_AGENT_HOME`, default `/opt/gitops-agent`.
    pub fn from_env() -> Layout {
        let home = std::env::var_os("GITOPS_AGENT_HOME")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("/opt/gitops-agent"), PathBuf::from);
        Layout { home }
    }

    pub fn app_configs(&self) -> PathBuf {
        self.home.join("app-configs")
    }

    /// `<slug>@<branch>-<hash>`: the deploy-config clone.
    pub fn deploy_clone(&self, repo_url: &Url, branch: &str) -> PathBuf {
        self.app_configs().join(folder_name(repo_url, branch))
    }

    /// `<slug>@<branch>-<hash>-monitoring`: the monitoring clone.
    pub fn monitoring_clone(&self, repo_url: &Url, branch: &str) -> PathBuf {
        self.app_configs()
            .join(format!("{}-monitoring", folder_name(repo_url, branch)))
    }

    /// Records of the last successful apply, one file per app.
    pub fn applied_dir(&self) -> PathBuf {
        self.state_dir().join("applied")
    }

    /// The agent's own memory (0700; every file in it 0600).
    pub fn state_dir(&self) -> PathBuf {
        self.home.join("state")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.home.join("agent.lock")
    }

    /// Make the home and the agent's state folder private (0700), also when an earlier
    /// agent (or a migration) left them 0755: the deploy clones there hold every device's
    /// config secrets (SPEC §10).
    pub fn prepare_home(&self) -> Result<()> {
        for dir in [
            self.home.clone(),
            self.home.join("state"),
            self.applied_dir(),
        ] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("create {}", dir.display()))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).with_context(
                || {
                    format!(
                        "make {} private (0700); is $GITOPS_AGENT_HOME yours?",
                        dir.display()
                    )
                },
            )?;
        }
        Ok(())
    }
}

pub fn folder_name(repo_url: &Url, branch: &str) -> String {
    format!(
        "{}@{branch}-{}",
        url::slug(repo_url.secret()),
        url::short_hash(repo_url.secret())
    )
}

/// The applied-section record of `app`.
pub fn applied_record(dir: &Path, app: &str) -> PathBuf {
    dir.join(format!("{app}.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_agent_folder_names() {
        let l = Layout {
            home: "/opt/gitops-agent".into(),
        };
        let h = url::short_hash("git@github.com:org/deploy.git");
        assert_eq!(
            l.deploy_clone(&"git@github.com:org/deploy.git".into(), "main"),
            PathBuf::from(format!("/opt/gitops-agent/app-configs/deploy@main-{h}"))
        );
        assert_eq!(
            l.monitoring_clone(&"git@github.com:org/deploy.git".into(), "main"),
            PathBuf::from(format!(
                "/opt/gitops-agent/app-configs/deploy@main-{h}-monitoring"
            ))
        );
        // userinfo does not change the folder
        assert_eq!(
            folder_name(&"https://tok@h/o/r.git".into(), "b"),
            folder_name(&"https://h/o/r".into(), "b")
        );
    }
}
