//! The split topology as separate OS processes of the built binary.
