---@meta
-- gt.hash (src/lgt_hash.c): SHA-256 (FIPS 180-4) of strings and files, for the trust database:
-- a repository's hook file runs only while its content has the hash the user trusted.
-- Digests are 64 lowercase hex digits. Failures of sha256_file return nil, "<path>: <reason>",
-- CODE with CODE from errno: "ENOTFOUND", "EACCES", "EISDIR" (a directory), "EIO"...; and
-- nil, "interrupted", "EINTR" when gt was interrupted while reading. Misuse (an argument that
-- is not a string) raises.

---@class gt.hash
local hash = {}

--- Returns the SHA-256 digest of the bytes of `data` (any bytes, zero bytes included), as 64
--- lowercase hex digits: hash.sha256("abc") is "ba7816bf...f20015ad".
---@param data string
---@return string digest
function hash.sha256(data) end

--- Returns the SHA-256 digest of the content of the file at `path` (symbolic links followed),
--- read in blocks, as 64 lowercase hex digits: the same digest sha256 gives for those bytes.
--- There is no size limit: reading something that never ends (/dev/zero) stops only when gt is
--- interrupted ("EINTR"). To hash exactly the bytes that are then used, read the file once
--- (fs.read_file) and hash the string.
---@param path string
---@return string? digest
---@return string? err
---@return string? code
function hash.sha256_file(path) end

return hash
