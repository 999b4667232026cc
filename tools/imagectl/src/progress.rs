//! Draws progress events: a bar per layer on a terminal, one line per finished step otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use berth_image::progress::{Event, Observer, Status};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress display for one command.
pub enum Display {
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
        style: ProgressStyle,
    },
    Lines {
        last: Mutex<HashMap<String, Status>>,
    },
}

impl Display {
    /// Bars when stdout is a terminal, plain lines when it is piped or redirected.
    pub fn new() -> Display {
        if std::io::stdout().is_terminal() {
            let style = ProgressStyle::with_template(
                "{prefix}: {msg:<12} {wide_bar} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}",
            )
            .expect("the template is valid")
            .progress_chars("=> ");
            Display::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: Mutex::new(HashMap::new()),
                style,
            }
        } else {
            Display::Lines {
                last: Mutex::new(HashMap::new()),
            }
        }
    }

    /// Prints a line that is not about one layer, above the bars.
    pub fn println(&self, line: &str) {
        match self {
            Display::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
            Display::Lines { .. } => println!("{line}"),
        }
    }
}

impl Observer for Display {
    fn event(&self, event: Event) {
        match self {
            Display::Bars { multi, bars, style } => {
                let mut bars = bars.lock().expect("progress lock");
                let bar = bars.entry(event.id.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(event.total.unwrap_or(0)));
                    bar.set_style(style.clone());
                    bar.set_prefix(event.id.clone());
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar
                });
                if let Some(total) = event.total {
                    bar.set_length(total);
                }
                bar.set_position(event.current);
                bar.set_message(event.status.as_str());
                if event.status.is_final() {
                    bar.finish_with_message(event.status.as_str());
                }
            }
            Display::Lines { last } => {
                let mut last = last.lock().expect("progress lock");
                // Byte counts change constantly; a pipe gets each step once.
                if last.insert(event.id.clone(), event.status) != Some(event.status) {
                    println!("{}: {}", event.id, event.status.as_str());
                }
            }
        }
    }
}
