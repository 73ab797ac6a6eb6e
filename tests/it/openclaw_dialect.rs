//! The OpenClaw dialect of the frame protocol (SPEC §16), frame by frame over a real socket.
