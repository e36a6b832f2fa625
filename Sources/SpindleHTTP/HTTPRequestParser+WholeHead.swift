// The straight-line scan: a new head that arrived whole is parsed in one pass with its offsets
// in locals, without the state machine's per-phase dispatch and stores to `state`.
//
// It decides only what it can decide exactly as the state machine would: a request line and
// field lines made of the common bytes, each checked with the same byte classes and limits. At
// the first thing it does not decide by itself (the end of the bytes, leading empty lines, a
// byte the state machine would report, a limit reached) it hands over: it stores what it found
// up to the start of the current line in `state` and returns nil, and `scan` goes on from that
// line's first byte. A line is thus re-read at most once, only on that path, and every error
// is still found — and named — by the state machine. (Errors found once a line is complete,
// by the field and end-of-head checks, it reports itself, with the same reason and the same
// `bytesScanned`.)
//
// Memory: every read is inside `p[0..<end]`. Each load of several bytes (the method word, the
// version word, a first `Host:`) is guarded by a bound check in the same condition, and the
// eight-byte skips stop a word short of their `stop` (at most `end`).

extension HTTPRequestParser {
    /// `GET ` as a little-endian 32-bit word.
    static let getSpace: UInt32 = 0x2054_4547
    /// `POST` as a little-endian 32-bit word.
    static let post: UInt32 = 0x5453_4F50

    /// Parses a new head (`state` is fresh: position 0) that is whole in `p[0..<end]`. Returns
    /// the result, or nil after handing over to `scan` (see the file's comment). Never
    /// allocates (except when the field table grows, as `scan` does). Inlined into `parseHead`,
    /// so the head is built in place in its result.
    @inline(__always)
    mutating func parseWholeHead(_ base: UnsafeRawPointer, _ end: Int) -> HTTPHeadParseResult? {
        let p = base.assumingMemoryBound(to: UInt8.self)
        let table = byteClasses

        // Method: `GET ` and `POST ` in one load each; other tokens byte by byte. A first byte
        // that is not a tchar (CR of a leading empty line, LF, …) leaves i at 0: hand over.
        var i: Int
        if end > 4 && UnsafeRawPointer(p).loadUnaligned(as: UInt32.self) == Self.getSpace {
            i = 3
        } else if end > 4 && UnsafeRawPointer(p).loadUnaligned(as: UInt32.self) == Self.post && p[4] == ASCII.sp {
            i = 4
        } else {
            i = 0
            let stop = min(end, HTTPLimits.maxMethodLength + 1)
            while i < stop && table[Int(p[i])] & ByteClass.token != 0 { i += 1 }
            guard i < end, i > 0, i <= HTTPLimits.maxMethodLength, p[i] == ASCII.sp else { return nil }
        }
        let methodEnd = i

        // Request-target: as `scan`'s `.target`.
        let targetStart = i + 1
        let targetStop = min(end, targetStart + limits.maxRequestTargetLength + 1)
        var question = -1  // the target's first `?`
        i = SWAR.skipTarget(p, targetStart, targetStop, question: &question)
        while i < targetStop && table[Int(p[i])] & ByteClass.target != 0 {
            if p[i] == ASCII.question && question < 0 { question = i }
            i += 1
        }
        guard i < end, i > targetStart, i - targetStart <= limits.maxRequestTargetLength,
              p[i] == ASCII.sp else { return nil }
        let targetEnd = i

        // Version and CRLF: `HTTP/1.` and a digit, in one load (as `scan`'s fast case).
        i += 1
        guard i + 9 < end else { return nil }
        let version = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
        let minor = p[i + 7] &- ASCII.zero
        guard version & 0x00FF_FFFF_FFFF_FFFF == Self.http1Prefix, minor < 10,
              p[i + 8] == ASCII.cr, p[i + 9] == ASCII.lf else { return nil }
        i += 10
        var form = HTTPRequestTargetForm.origin
        if let failure = Self.classifyTarget(p, methodStart: 0, methodEnd: methodEnd,
                                             targetStart: targetStart, targetEnd: targetEnd, form: &form) {
            return fail(failure, scanned: i)
        }

        // Field lines, then the empty line.
        let fieldsStart = i
        let limit = fieldsStart + limits.maxHeaderBytes
        let stop = min(end, limit)
        var fieldCount = 0
        var facts = FieldFacts()
        var lineStart = i
        // Each `break lines` hands the head over to `scan` at `lineStart`.
        lines: while true {
            lineStart = i
            guard i < stop else { break lines }
            let first = p[i]
            if first == ASCII.cr {
                // The empty line. Its LF must lie within the field section's limit, as in `.endLF`.
                guard i + 1 < stop, p[i + 1] == ASCII.lf else { break lines }
                i += 2
                if let failure = facts.finishHead(minor: minor, limits: limits) { return fail(failure, scanned: i) }
                let head = makeHead(base: base, length: i, fieldCount: fieldCount,
                                    methodStart: 0, methodEnd: methodEnd,
                                    targetStart: targetStart, targetEnd: targetEnd, question: question,
                                    minor: minor, form: form, facts: facts)
                return .complete(head, consumed: i)
            }
            guard table[Int(first)] & ByteClass.token != 0, fieldCount < limits.maxHeaderCount else { break lines }

            // Name, colon, leading whitespace.
            let nameStart = i
            // `Host:`, the usual first field (RFC 9110 §7.2), in one load: a byte that or-ed with
            // 0x20 is a lowercase letter is one of that letter's two cases, so these are tchars.
            if fieldCount == 0 && i + 4 < stop
                && UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) | 0x2020_2020 == 0x7473_6F68  // "tsoh"
                && p[i + 4] == ASCII.colon {
                i += 4
            } else {
                i = SWAR.skipNameLetters(p, i + 1, stop)
                while i < stop && table[Int(p[i])] & ByteClass.token != 0 { i += 1 }
                guard i < stop, p[i] == ASCII.colon else { break lines }
            }
            let nameEnd = i
            i += 1
            while i < stop && table[Int(p[i])] & ByteClass.whitespace != 0 { i += 1 }
            guard i < stop else { break lines }

            // Value up to CR, then trailing whitespace trimmed, then LF within the limit.
            let valueStart = i
            i = SWAR.skipFieldValue(p, i, stop)
            while i < stop && table[Int(p[i])] & ByteClass.fieldValue != 0 { i += 1 }
            guard i + 1 < stop, p[i] == ASCII.cr, p[i + 1] == ASCII.lf else { break lines }
            var valueEnd = i
            while valueEnd > valueStart && table[Int(p[valueEnd - 1])] & ByteClass.whitespace != 0 { valueEnd -= 1 }
            i += 2

            if fieldCount == slotCapacity { growSlots(keeping: fieldCount) }
            slots[fieldCount] = FieldSlot(nameStart: nameStart, nameEnd: nameEnd, valueStart: valueStart, valueEnd: valueEnd)
            fieldCount += 1
            if let failure = facts.noteField(p, table, nameStart: nameStart, nameEnd: nameEnd,
                                             valueStart: valueStart, valueEnd: valueEnd, validHost: &validHost) {
                return fail(failure, scanned: i)
            }
        }
        resume(at: lineStart, methodEnd: methodEnd, targetStart: targetStart, targetEnd: targetEnd, question: question,
               minor: minor, form: form, fieldsStart: fieldsStart, fieldCount: fieldCount, facts: facts)
        return nil
    }

    /// Stores in `state` what the straight-line scan found before `lineStart`, so that `scan`
    /// goes on from that field line (or empty line). Cost: a dozen stores; only when handing over.
    @inline(never)
    mutating func resume(at lineStart: Int, methodEnd: Int, targetStart: Int, targetEnd: Int, question: Int, minor: UInt8,
                         form: HTTPRequestTargetForm, fieldsStart: Int, fieldCount: Int, facts: FieldFacts) {
        state.phase = .lineStart
        state.position = lineStart
        state.methodStart = 0
        state.methodEnd = methodEnd
        state.targetStart = targetStart
        state.targetEnd = targetEnd
        state.question = question
        state.versionStart = targetEnd + 1
        state.minor = minor
        state.form = form
        state.fieldsStart = fieldsStart
        state.fieldCount = fieldCount
        state.facts = facts
    }

    /// Records a failure found by the straight-line scan where `scan` would have found it
    /// (`scanned` bytes in, the `bytesScanned` it would leave). Cost: two stores.
    mutating func fail(_ reason: HTTPParseError.Reason, scanned: Int) -> HTTPHeadParseResult {
        let error = HTTPParseError(reason)
        state.position = scanned
        failure = error
        return .error(error)
    }
}
