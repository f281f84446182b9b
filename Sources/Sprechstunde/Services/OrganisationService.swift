/// Subsidiaries, locations and departments. Everyone reads the own company's; admins manage them.
public final class OrganisationService: Sendable {
    let store: any Store
    let clock: Clock

    public init(store: any Store, clock: Clock = .system) {
        self.store = store
        self.clock = clock
    }

    public func list(as principal: Principal, kind: OrganisationUnit.Kind, page: PageRequest) throws -> Page<
        OrganisationUnit
    > {
        try Policy.require(principal, .readOrganisation)
        return try store.units(
            kind: kind, companyID: principal.isSuperadmin ? nil : (principal.companyID ?? -1), page: page)
    }

    public func get(as principal: Principal, kind: OrganisationUnit.Kind, id: OrganisationUnit.ID) throws
        -> OrganisationUnit
    {
        try Policy.require(principal, .readOrganisation)
        guard let unit = try store.unit(kind: kind, id: id), principal.canSee(company: unit.companyID) else {
            throw DomainError.notFound("\(kind.displayName) \(id)")
        }
        return unit
    }

    public func create(as principal: Principal, kind: OrganisationUnit.Kind, companyID: Company.ID?, name: String?)
        throws
        -> OrganisationUnit
    {
        try Policy.require(principal, .manageOrganisation)
        var errors = ValidationErrors()
        let companyID = companyID ?? principal.companyID
        if let companyID {
            if try !principal.canSee(company: companyID) || store.company(id: companyID) == nil {
                errors.add("company_id", "company_id \(companyID) is not a company you can manage.")
            }
        } else {
            errors.add("company_id", "company_id is required.")
        }
        var validName: String?
        do { validName = try CompanyService.validName(name, required: true) } catch { errors.merge(error.fieldErrors) }
        try errors.check()
        return try store.insertUnit(kind: kind, companyID: companyID!, name: validName!, now: clock.now())
    }

    public func update(as principal: Principal, kind: OrganisationUnit.Kind, id: OrganisationUnit.ID, name: String?)
        throws
        -> OrganisationUnit
    {
        try Policy.require(principal, .manageOrganisation)
        var unit = try get(as: principal, kind: kind, id: id)
        if let name = try CompanyService.validName(name, required: false) { unit.name = name }
        unit.updatedAt = clock.now()
        try store.updateUnit(unit)
        return unit
    }

    public func delete(as principal: Principal, kind: OrganisationUnit.Kind, id: OrganisationUnit.ID) throws {
        try Policy.require(principal, .manageOrganisation)
        _ = try get(as: principal, kind: kind, id: id)
        try store.deleteUnit(kind: kind, id: id)
    }
}
