//! The text `gitops-agent plan` prints: per app one line (would change or not, and why),
//! the steps that would run, and a unified diff of each config file that would change.

use crate::diff;
use crate::reconcile::dry::{AppPreview, FileChange, Outcome};

/// The lines of one app.
pub fn app(p: &AppPreview) -> String {
    let name = &p.app;
    let mut out = match &p.outcome {
        Outcome::InSync => format!("[{name}] in sync: nothing would change\n"),
        Outcome::Adopt => format!(
            "[{name}] in sync: nothing would change (its section would be recorded as applied; no command runs)\n"
        ),
        Outcome::Update(why) => format!("[{name}] would update: {}\n", why.join("; ")),
        Outcome::Held { by, reasons } if reasons.is_empty() => {
            format!("[{name}] held, {by}: nothing to change\n")
        }
        Outcome::Held { by, reasons } => format!(
            "[{name}] held, {by}: would not change now (pending: {})\n",
            reasons.join("; ")
        ),
        Outcome::Recover => format!("[{name}] an update was cut short: it would be put back\n"),
        Outcome::Remove => format!("[{name}] its section is gone: it would be removed (prune)\n"),
        Outcome::Failed(e) => format!("[{name}] cannot be reconciled: {}\n", one_line(e)),
    };
    if !matches!(p.outcome, Outcome::Held { .. }) {
        for s in &p.steps {
            out.push_str(&format!("  {}\n", one_line(s)));
        }
    }
    for f in &p.files {
        out.push_str(&file(f));
    }
    out
}

fn file(f: &FileChange) -> String {
    let dst = f.dst.display().to_string();
    let mut out = String::new();
    if let Some((now, want)) = f.mode {
        out.push_str(&format!("  mode of {dst}: {now:04o} -> {want:04o}\n"));
    }
    out.push_str(&diff::unified(
        f.old.as_deref(),
        &f.new,
        &dst,
        &format!("{dst} (from {})", f.src),
    ));
    out
}

/// A multi-line message on one line (the diff is the only multi-line part of the output).
fn one_line(s: &str) -> String {
    s.trim().replace('\n', " | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(outcome: Outcome) -> AppPreview {
        AppPreview {
            app: "web".into(),
            outcome,
            steps: vec!["run pre_updation_command in /srv/web: stop".into()],
            files: vec![],
        }
    }

    #[test]
    fn an_update_shows_why_the_steps_and_the_diff() {
        let mut u = p(Outcome::Update(vec![
            "code folder missing".into(),
            "config file /e differs".into(),
        ]));
        u.files.push(FileChange {
            dst: "/e".into(),
            src: "edge/e".into(),
            old: Some(b"PORT=80\n".to_vec()),
            new: b"PORT=81\n".to_vec(),
            mode: Some((0o644, 0o600)),
        });
        assert_eq!(
            app(&u),
            "[web] would update: code folder missing; config file /e differs\n  run pre_updation_command in /srv/web: stop\n  mode of /e: 0644 -> 0600\n--- /e\n+++ /e (from edge/e)\n@@ -1 +1 @@\n-PORT=80\n+PORT=81\n"
        );
    }

    #[test]
    fn held_apps_say_by_what_and_show_no_steps() {
        let h = p(Outcome::Held {
            by: "deferred by update_lock".into(),
            reasons: vec!["HEAD is not the desired commit".into()],
        });
        assert_eq!(app(&h), "[web] held, deferred by update_lock: would not change now (pending: HEAD is not the desired commit)\n");
    }

    #[test]
    fn errors_stay_on_one_line() {
        assert_eq!(
            app(&AppPreview {
                steps: vec![],
                ..p(Outcome::Failed("a\nb\n".into()))
            }),
            "[web] cannot be reconciled: a | b\n"
        );
        assert_eq!(
            app(&AppPreview {
                steps: vec![],
                ..p(Outcome::InSync)
            }),
            "[web] in sync: nothing would change\n"
        );
    }
}
