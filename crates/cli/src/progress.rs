//! Renders the daemon's JSON progress stream (pull, push, load) as docker does: a bar per
//! layer on a terminal, one line per step when the output is piped.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use berth_api::ProgressMessage;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{Error, Result};

/// A terminal's bars, one per layer.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    /// While bytes move.
    style: ProgressStyle,
    /// Steps without byte counts (`Pulling fs layer`, `Pull complete`): a line, no bar.
    plain: ProgressStyle,
}

/// How the stream is shown.
enum Display {
    Bars(Box<Bars>),
    Lines,
    /// `-q`: nothing but errors.
    Quiet,
}

impl Display {
    fn new(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stdout().is_terminal() {
            let style = ProgressStyle::with_template(
                "{prefix}: {msg:<12} {wide_bar} {bytes:>10}/{total_bytes:<10}",
            )
            .expect("the template is valid")
            .progress_chars("=> ");
            Display::Bars(Box::new(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: HashMap::new(),
                style,
                plain: ProgressStyle::with_template("{prefix}: {msg}")
                    .expect("the template is valid"),
            }))
        } else {
            Display::Lines
        }
    }

    fn line(&self, text: &str) {
        match self {
            Display::Bars(bars) => {
                let _ = bars.multi.println(text);
            }
            Display::Lines => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
            }
            Display::Quiet => {}
        }
    }

    fn show(&mut self, message: &ProgressMessage) {
        if let Some(stream) = &message.stream {
            self.line(stream.trim_end_matches('\n'));
            return;
        }
        let Some(status) = &message.status else {
            return;
        };
        let Some(id) = &message.id else {
            self.line(status);
            return;
        };
        let detail = message.progress_detail.as_ref();
        let counting = detail.is_some_and(|d| d.current.is_some());
        match self {
            Display::Bars(display) => {
                let Bars {
                    multi,
                    bars,
                    style,
                    plain,
                } = &mut **display;
                let bar = bars.entry(id.clone()).or_insert_with(|| {
                    let bar = multi.add(
                        ProgressBar::new(0)
                            .with_style(plain.clone())
                            .with_prefix(id.clone()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar
                });
                match detail {
                    Some(detail) if counting => {
                        bar.set_style(style.clone());
                        if let Some(total) = detail.total {
                            bar.set_length(total);
                        }
                        if let Some(current) = detail.current {
                            bar.set_position(current);
                        }
                    }
                    _ => bar.set_style(plain.clone()),
                }
                bar.set_message(status.clone());
                if is_final(status) {
                    bar.finish_with_message(status.clone());
                }
            }
            // Byte counts change constantly; a pipe gets each step once.
            Display::Lines if !counting => self.line(&format!("{id}: {status}")),
            Display::Lines | Display::Quiet => {}
        }
    }

    fn finish(&mut self) {
        if let Display::Bars(display) = self {
            for bar in display.bars.values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }
}

/// Steps after which a layer's bar has nothing more to show.
fn is_final(status: &str) -> bool {
    matches!(
        status,
        "Pull complete" | "Already exists" | "Pushed" | "Layer already exists" | "Loading layer"
    ) || status.starts_with("Mounted from")
}

/// Shows every message of `body` until it ends; an error message ends it with
/// [`Error::Stream`]. Returns the messages without an id (`Digest: …`, `Status: …`).
pub fn render(body: &mut dyn BufRead, quiet: bool) -> Result<Vec<String>> {
    let mut display = Display::new(quiet);
    let mut statuses = Vec::new();
    let stream = serde_json::Deserializer::from_reader(body).into_iter::<ProgressMessage>();
    for message in stream {
        let message = message
            .map_err(|e| Error::Stream(format!("unreadable progress from the daemon: {e}")))?;
        if let Some(error) = message
            .error_detail
            .as_ref()
            .map(|d| d.message.clone())
            .or_else(|| message.error.clone())
        {
            display.finish();
            return Err(Error::Stream(error));
        }
        if message.id.is_none() {
            if let Some(status) = &message.status {
                statuses.push(status.clone());
            }
        }
        display.show(&message);
    }
    display.finish();
    Ok(statuses)
}
