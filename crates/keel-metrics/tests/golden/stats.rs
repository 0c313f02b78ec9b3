//! (owned by the statistics helper)
