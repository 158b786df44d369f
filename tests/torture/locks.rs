//! placeholder
use crate::{Ctx, Scenario};

pub fn scenarios(_ctx: &Ctx) -> Vec<Scenario> {
    Vec::new()
}
