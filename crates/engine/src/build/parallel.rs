//! Building the stages a target needs, each as soon as the stages it starts from or copies
//! from are built: independent stages run at the same time. The output stays the sequential
//! output of Docker's legacy builder: steps keep the numbers the plan's order gives them, and
//! a stage's lines are held back until every stage before it in that order has printed its
//! own (the first unfinished stage streams live). Once a stage fails, nothing after it is
//! printed, as if the stages after it had not run.

use std::sync::atomic::{AtomicBool, Ordering};

use berth_image::Digest;
use tokio::sync::mpsc::unbounded_channel;

use super::stage::Run;
use super::{plan_error, BuildError, BuildResult, Planned, Sink};

/// Builds the stages of `plan` (in Dockerfile order) with `run`'s build, reporting on `out`;
/// returns each stage's image by stage index.
pub(super) async fn build_stages(
    run: &mut Run<'_>,
    plan: &[Planned],
    out: &Sink,
) -> BuildResult<Vec<Option<Digest>>> {
    let mut first_step = Vec::with_capacity(plan.len());
    let mut steps = 0;
    for planned in plan {
        first_step.push(steps);
        steps += planned.steps;
    }
    let options = run.options;
    run.total_steps = steps + usize::from(!options.labels.is_empty());
    let last = plan.last().map(|p| p.index);
    let (senders, receivers): (Vec<Sink>, Vec<_>) =
        plan.iter().map(|_| unbounded_channel()).unzip();
    let failed: Vec<AtomicBool> = plan.iter().map(|_| AtomicBool::new(false)).collect();
    let forward = async {
        for (position, mut stage_output) in receivers.into_iter().enumerate() {
            while let Some(output) = stage_output.recv().await {
                let _ = out.send(output);
            }
            // Set before the stage's sender went away.
            if failed[position].load(Ordering::SeqCst) {
                break;
            }
        }
    };
    let work = async {
        let mut senders: Vec<Option<Sink>> = senders.into_iter().map(Some).collect();
        let mut built: Vec<Option<Digest>> = vec![None; run.dockerfile.stages.len()];
        let mut done = vec![false; plan.len()];
        let mut error: Option<(usize, BuildError)> = None;
        while error.is_none() && done.contains(&false) {
            let ready: Vec<usize> = (0..plan.len())
                .filter(|&p| !done[p] && plan[p].needs.iter().all(|&i| built[i].is_some()))
                .collect();
            if ready.is_empty() {
                let waiting = plan[done.iter().position(|d| !d).expect("a stage is left")].index;
                return Err(plan_error(waiting));
            }
            let snapshot = built.clone();
            let stages = ready.iter().map(|&p| {
                let sender = senders[p].take().expect("each stage runs once");
                let mut stage_run = run.for_stage(sender, first_step[p]);
                let labels = (Some(plan[p].index) == last).then_some(&options.labels);
                let (snapshot, failed) = (&snapshot, &failed);
                async move {
                    let result = stage_run.stage(&plan[p], snapshot, labels).await;
                    stage_run.removals_done().await;
                    if result.is_err() {
                        failed[p].store(true, Ordering::SeqCst);
                    }
                    // Dropping the run closes its output: the next stage's lines may follow.
                    (p, result, stage_run.into_declared())
                }
            });
            for (p, result, declared) in futures_util::future::join_all(stages).await {
                done[p] = true;
                run.declared_elsewhere(declared);
                match result {
                    Ok(id) => built[plan[p].index] = Some(id),
                    Err(e) if error.as_ref().is_none_or(|(q, _)| p < *q) => error = Some((p, e)),
                    Err(_) => {}
                }
            }
        }
        // The stages that never started: their output ends here.
        drop(senders);
        match error {
            Some((_, e)) => Err(e),
            None => Ok(built),
        }
    };
    let (result, ()) = tokio::join!(work, forward);
    result
}
