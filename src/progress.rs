//! The progress bar on standard error while a large capture is read: only on a terminal, never
//! with `--quiet`, and only once more than [`SHOW_AFTER`] bytes have been read, so that small
//! captures and pipes stay silent.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mtlscan::capture::Input;
use mtlscan::{Progress, ProgressHook};

/// The bar appears once this much has been read.
const SHOW_AFTER: u64 = 64 * 1024 * 1024;

/// Where each input starts in the overall byte count, and the total (`None` with stdin).
struct Layout {
    base: Vec<u64>,
    sizes: Vec<Option<u64>>,
    total: Option<u64>,
}

impl Layout {
    fn of(inputs: &[Input]) -> Layout {
        let sizes: Vec<Option<u64>> = inputs
            .iter()
            .map(|i| match i {
                Input::Path(p) => std::fs::metadata(p).ok().map(|m| m.len()),
                Input::Stdin => None,
            })
            .collect();
        let mut base = Vec::with_capacity(sizes.len());
        let mut sum = 0u64;
        for s in &sizes {
            base.push(sum);
            sum = sum.saturating_add(s.unwrap_or(0));
        }
        let total = sizes.iter().all(Option::is_some).then_some(sum);
        Layout { base, sizes, total }
    }

    /// Overall position: the input's start plus what was read of it (at most its size).
    fn position(&self, input: usize, bytes: u64) -> u64 {
        let base = self.base.get(input).copied().unwrap_or(0);
        let read = match self.sizes.get(input).copied().flatten() {
            Some(size) => bytes.min(size),
            None => bytes,
        };
        base.saturating_add(read)
    }
}

fn style(known_total: bool) -> ProgressStyle {
    let template = if known_total {
        "{spinner} {msg} [{bar:24}] {bytes}/{total_bytes}, {bytes_per_sec}, {eta} left"
    } else {
        "{spinner} {msg} {bytes}, {bytes_per_sec}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A progress bar for reading `inputs`, or `None` when standard error is not a terminal.
pub struct Bar {
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

impl Bar {
    /// The bar and the hook the analysis reports to; `None` when no bar may be shown.
    pub fn for_inputs(inputs: &[Input], quiet: bool) -> Option<(Bar, ProgressHook)> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let layout = Layout::of(inputs);
        let slot: Arc<Mutex<Option<ProgressBar>>> = Arc::new(Mutex::new(None));
        let shared = Arc::clone(&slot);
        let count = inputs.len();
        let hook = ProgressHook::new(move |p| {
            let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
            match p {
                Progress::Reading { input, bytes } => {
                    let pos = layout.position(input, bytes);
                    if guard.is_none() && pos < SHOW_AFTER {
                        return;
                    }
                    let what = if count > 1 {
                        format!("reading capture {} of {count}", input + 1)
                    } else {
                        "reading".to_string()
                    };
                    match guard.as_ref() {
                        Some(bar) => {
                            bar.set_message(what);
                            bar.set_position(pos);
                        }
                        None => {
                            // drawn only once it holds the right position
                            let bar = ProgressBar::with_draw_target(
                                layout.total,
                                ProgressDrawTarget::hidden(),
                            );
                            bar.set_style(style(layout.total.is_some()));
                            bar.set_message(what);
                            bar.set_position(pos);
                            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(8));
                            bar.enable_steady_tick(Duration::from_millis(250));
                            *guard = Some(bar);
                        }
                    }
                }
                Progress::Classifying { flows, .. } => {
                    if let Some(bar) = guard.as_ref() {
                        bar.set_message(format!("classifying {flows} flows"));
                    }
                }
            }
        });
        Some((Bar { bar: slot }, hook))
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        let guard = self.bar.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bar) = guard.as_ref() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_positions() {
        let l = Layout {
            base: vec![0, 100],
            sizes: vec![Some(100), None],
            total: None,
        };
        assert_eq!(l.position(0, 50), 50);
        assert_eq!(l.position(0, 500), 100);
        assert_eq!(l.position(1, 500), 600);
        assert_eq!(l.position(7, 5), 5);
    }
}
