//! Apply progress: a live display on a terminal, one line per event elsewhere, JSON Lines with
//! `--json`. All three consume the same event stream.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::style::Styles;
use ams_engine::{Event, Op};

fn symbol(op: Op) -> &'static str {
    match op {
        Op::Same => " ",
        Op::Create => "+",
        Op::Update => "~",
        Op::Replace => "+>",
        Op::DeleteReplaced | Op::Delete => "-",
    }
}

fn done_word(op: Op) -> &'static str {
    match op {
        Op::Same => "kept",
        Op::Create | Op::Replace => "created",
        Op::Update => "updated",
        Op::Delete | Op::DeleteReplaced => "deleted",
    }
}

/// The line an event prints as, when it prints one.
pub fn event_line(event: &Event, styles: &Styles) -> Option<String> {
    Some(match event {
        Event::Started {
            name,
            type_name,
            op,
        } => {
            format!(
                "  {} {name} {}: {}...",
                symbol(*op),
                styles.dim.apply_to(format!("({type_name})")),
                op.verb()
            )
        }
        Event::Waiting { name, what } => format!("    {name}: {what}"),
        Event::Done {
            name,
            op,
            id,
            elapsed_ms,
            ..
        } => format!(
            "  {} {name}: {} {id} {}",
            symbol(*op),
            done_word(*op),
            styles
                .dim
                .apply_to(format!("({:.1}s)", *elapsed_ms as f64 / 1000.0))
        ),
        Event::Failed {
            name,
            type_name,
            op,
            error,
        } => format!(
            "  {} {name} ({type_name}): {} failed: {error}",
            styles.error.apply_to("!"),
            op.verb()
        ),
        Event::Stopping { reason } => format!("  {} {reason}", styles.warn.apply_to("stopping:")),
        Event::Saved { .. } => return None,
    })
}

pub enum Mode {
    /// One spinner per step in flight; finished steps scroll above.
    Live,
    /// One line per event on stderr.
    Lines,
    /// One JSON object per event on stdout.
    Json,
}

pub struct Progress {
    mode: Mode,
    styles: Styles,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub fn new(mode: Mode, styles: Styles) -> Self {
        let multi = MultiProgress::with_draw_target(match mode {
            Mode::Live => ProgressDrawTarget::stderr(),
            Mode::Lines | Mode::Json => ProgressDrawTarget::hidden(),
        });
        Progress {
            mode,
            styles,
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub fn handle(&self, event: &Event) {
        match self.mode {
            Mode::Json => {
                let line = serde_json::json!({ "kind": "event", "event": event });
                println!("{line}");
            }
            Mode::Lines => {
                if let Some(line) = event_line(event, &self.styles) {
                    super::err(&line);
                }
            }
            Mode::Live => self.live(event),
        }
    }

    fn live(&self, event: &Event) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            Event::Started {
                name,
                type_name,
                op,
            } => {
                let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
                bar.set_message(format!(
                    "{} {name} ({type_name}): {}",
                    symbol(*op),
                    op.verb()
                ));
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.insert(name.clone(), bar);
            }
            Event::Waiting { name, what } => {
                if let Some(bar) = bars.get(name) {
                    let message = bar.message();
                    let base = message.split(" — ").next().unwrap_or_default().to_string();
                    bar.set_message(format!("{base} — {what}"));
                }
            }
            Event::Done { name, .. } | Event::Failed { name, .. } => {
                if let Some(bar) = bars.remove(name) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if let Some(line) = event_line(event, &self.styles) {
                    let _ = self.multi.println(line);
                }
            }
            Event::Stopping { .. } => {
                if let Some(line) = event_line(event, &self.styles) {
                    let _ = self.multi.println(line);
                }
            }
            Event::Saved { .. } => {}
        }
    }

    pub fn finish(&self) {
        if let Ok(mut bars) = self.bars.lock() {
            for (_, bar) in bars.drain() {
                bar.finish_and_clear();
            }
        }
        let _ = self.multi.clear();
    }
}
