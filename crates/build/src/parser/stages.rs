//! Finding the stage a `FROM`, `COPY --from` or `RUN --mount=from=` refers to.

use super::ast::Dockerfile;

/// What a `--from` reference designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRef {
    /// The stage at this index in [`Dockerfile::stages`].
    Stage(usize),
    /// An image to pull (or find locally), as written.
    Image(String),
}

impl Dockerfile {
    /// The index of the stage named `name` (`FROM … AS name`), compared case-insensitively as
    /// BuildKit does.
    pub fn stage_by_name(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// The base of stage `index`, once its `FROM` word has been expanded to `base`: an
    /// earlier stage whose name is exactly `base` (BuildKit does not lower-case it here), or
    /// an image.
    pub fn base_of(&self, index: usize, base: &str) -> StageRef {
        match self.stages[..index.min(self.stages.len())]
            .iter()
            .position(|s| s.name.as_deref() == Some(base))
        {
            Some(i) => StageRef::Stage(i),
            None => StageRef::Image(base.to_string()),
        }
    }

    /// What `COPY --from=` / `--mount=from=` names: a stage index when it is a number
    /// (`invalid stage index N` when there is no such stage), else a stage name (any stage,
    /// even a later one: the caller must refuse cycles), else an image.
    pub fn copy_source(&self, from: &str) -> Result<StageRef, String> {
        if let Ok(index) = from.parse::<i64>() {
            return match usize::try_from(index) {
                Ok(i) if i < self.stages.len() => Ok(StageRef::Stage(i)),
                _ => Err(format!("invalid stage index {index}")),
            };
        }
        Ok(self
            .stage_by_name(from)
            .map_or_else(|| StageRef::Image(from.to_string()), StageRef::Stage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_indexes_and_images() {
        let df = crate::parse(
            "Dockerfile",
            b"FROM alpine AS Build\nFROM build AS test\nFROM Build\nCOPY --from=0 a b\n",
        )
        .unwrap();
        assert_eq!(df.stage_by_name("BUILD"), Some(0));
        assert_eq!(df.base_of(1, "build"), StageRef::Stage(0));
        assert_eq!(
            df.base_of(2, "Build"),
            StageRef::Image("Build".into()),
            "FROM compares names exactly"
        );
        assert_eq!(
            df.base_of(0, "test"),
            StageRef::Image("test".into()),
            "only earlier stages"
        );
        assert_eq!(df.copy_source("1"), Ok(StageRef::Stage(1)));
        assert_eq!(df.copy_source("TEST"), Ok(StageRef::Stage(1)));
        assert_eq!(
            df.copy_source("busybox:1"),
            Ok(StageRef::Image("busybox:1".into()))
        );
        assert_eq!(df.copy_source("3"), Err("invalid stage index 3".into()));
        assert_eq!(df.copy_source("-1"), Err("invalid stage index -1".into()));
    }
}
