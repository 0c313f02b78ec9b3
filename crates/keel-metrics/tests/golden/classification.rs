//! (owned by the classification helper)
