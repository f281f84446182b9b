/// Companies (tenants). Everyone sees the own company; only a superadmin sees and manages all.
public final class CompanyService: Sendable {
    let store: any Store
    let clock: Clock

    public init(store: any Store, clock: Clock = .system) {
        self.store = store
        self.clock = clock
    }

    public func list(as principal: Principal, page: PageRequest) throws -> Page<Company> {
        try Policy.require(principal, .readCompanies)
        return try store.companies(onlyID: principal.isSuperadmin ? nil : (principal.companyID ?? -1), page: page)
    }

    public func get(as principal: Principal, id: Company.ID) throws -> Company {
        try Policy.require(principal, .readCompanies)
        guard principal.canSee(company: id), let company = try store.company(id: id) else {
            throw DomainError.notFound("Company \(id)")
        }
        return company
    }

    public func create(as principal: Principal, name: String?, extid: String??) throws -> Company {
        try Policy.require(principal, .manageCompanies)
        let name = try Self.validName(name, required: true)!
        try Self.checkExtid(extid)
        return try store.insertCompany(name: name, extid: extid ?? nil, now: clock.now())
    }

    public func update(as principal: Principal, id: Company.ID, name: String?, extid: String??) throws -> Company {
        try Policy.require(principal, .manageCompanies)
        var company = try get(as: principal, id: id)
        if let name = try Self.validName(name, required: false) { company.name = name }
        try Self.checkExtid(extid)
        if let extid { company.extid = extid }
        company.updatedAt = clock.now()
        try store.updateCompany(company)
        return company
    }

    public func delete(as principal: Principal, id: Company.ID) throws {
        try Policy.require(principal, .manageCompanies)
        _ = try get(as: principal, id: id)
        if principal.companyID == id {
            throw DomainError(.conflict, "You cannot delete the company your own account belongs to.")
        }
        try store.deleteCompany(id: id, now: clock.now())
    }

    static func validName(_ name: String?, required: Bool) throws(DomainError) -> String? {
        guard let name else {
            if required { throw DomainError.invalid("name", "name is required.") }
            return nil
        }
        let trimmed = name.trimmingWhitespace
        if trimmed.isEmpty { throw DomainError.invalid("name", "name must not be empty.") }
        if UserRules.hasControlCharacters(trimmed) {
            throw DomainError.invalid("name", "name must not contain control characters.")
        }
        if trimmed.count > 255 { throw DomainError.invalid("name", "name may be at most 255 characters long.") }
        return trimmed
    }

    static func checkExtid(_ extid: String??) throws(DomainError) {
        if case .some(.some(let value)) = extid, value.count > 255 {
            throw DomainError.invalid("extid", "extid may be at most 255 characters long.")
        }
    }
}
