-- A staff socket lives no longer than the sign-in that opened it: a pass remembers when the
-- token it was made with expires, and the socket closes then.
ALTER TABLE socket_passes ADD COLUMN token_expires_at timestamptz;
