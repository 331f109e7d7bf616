//! The delivery engine. (Being written.)
