/// Consultation hours and the company settings for appointments. Reserving and moving an
/// appointment go through `CallStore.insertCall`/`updateCall`, which refuse, inside their
/// transaction, a call that overlaps another live call of the same doctor.
public protocol AppointmentStore: Sendable {
    /// Nil while the company has not changed the defaults.
    func appointmentSettings(companyID: Company.ID) throws -> AppointmentSettings?
    func saveAppointmentSettings(_ settings: AppointmentSettings, companyID: Company.ID, now: Int64) throws
    /// Stores a new entry (its `id` is ignored) and returns it as stored.
    func insertAvailability(_ entry: Availability) throws -> Availability
    func availability(id: Availability.ID) throws -> Availability?
    /// Ordered by doctor, then id.
    func availabilities(companyID: Company.ID, userID: User.ID?, page: PageRequest) throws -> Page<Availability>
    /// Every entry of one doctor (for planning slots).
    func availabilities(userID: User.ID) throws -> [Availability]
    func updateAvailability(_ entry: Availability) throws
    func deleteAvailability(id: Availability.ID) throws
    /// Planned intervals of the live (not deleted, not ended) calls `userID` takes part in that
    /// overlap `from ..< to`.
    func busyIntervals(userID: User.ID, from: Int64, to: Int64) throws -> [(begin: Int64, end: Int64)]
}

/// Thrown by the store when an appointment would overlap another call of the doctor.
public struct SlotTaken: Error, Sendable {
    public init() {}
}
