public import Foundation

/// A vendor's `Retry-After` header as a wait, bounded: a negative, garbled or absurd value must not park a
/// push for ever or make it retry at once.
///
/// Both forms of RFC 9110 §10.2.3 are read: seconds (what APNs and FCM send) and an HTTP-date (which Web
/// Push services and proxies in front of any vendor may send), in each of the three date formats a
/// recipient must accept (§5.6.7).
public enum RetryAfter {
    /// The longest wait taken from a vendor; anything longer is treated as this.
    public static let maximum: Duration = .seconds(3600)

    /// The wait `header` asks for as seen at `now`; a date already past is no wait.
    public static func parse(_ header: String?, now: Date) -> Duration? {
        guard let header, header.utf8.count <= 64 else { return nil }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if let seconds = delaySeconds(trimmed) { return min(.seconds(seconds), maximum) }
        guard let date = httpDate(trimmed) else { return nil }
        let wait = date.timeIntervalSince(now)
        guard wait > 0 else { return .zero }
        return min(.seconds(Int(wait.rounded(.up))), maximum)
    }

    private static func delaySeconds(_ text: String) -> Int? {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(text)
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT` or `Sun Nov  6 08:49:37 1994`.
    static func httpDate(_ text: String) -> Date? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map { $0.lowercased() }
        let day: Int?, month: Int?, year: Int?, time: Substring
        switch fields.count {
        case 6 where fields[5] == "gmt":
            // IMF-fixdate, or RFC 850 with its day-month-year split at the dashes.
            day = Int(fields[1])
            month = months.firstIndex(of: fields[2]).map { $0 + 1 }
            year = Int(fields[3]).map { fields[3].count == 2 ? ($0 < 70 ? 2000 + $0 : 1900 + $0) : $0 }
            time = Substring(fields[4])
        case 5:
            // asctime: the day of the month comes after the month, and the year last.
            month = months.firstIndex(of: fields[1]).map { $0 + 1 }
            day = Int(fields[2])
            time = Substring(fields[3])
            year = Int(fields[4])
        default:
            return nil
        }
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard let day, let month, let year, (1...31).contains(day), (1970...9999).contains(year), clock.count == 3,
            (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2])
        else { return nil }
        let seconds = daysSinceEpoch(year: year, month: month, day: day) * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2]
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
