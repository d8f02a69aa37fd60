//! Report formats and the CI policy.
