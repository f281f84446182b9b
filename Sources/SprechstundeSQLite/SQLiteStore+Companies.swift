import Sprechstunde

extension SQLiteStore: CompanyStore {
    static let companyColumns = "id, name, extid, created_at, updated_at, deleted_at"

    static func company(_ row: Row) -> Company {
        Company(
            id: row.int(0)!, name: row.text(1)!, extid: row.text(2), createdAt: row.int(3)!, updatedAt: row.int(4)!,
            deletedAt: row.int(5))
    }

    public func insertCompany(name: String, extid: String?, now: Int64) throws -> Company {
        let id = try write { connection in
            try connection.run(
                "INSERT INTO companies (name, extid, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [.text(name), .text(extid), .int(now), .int(now)])
            return connection.lastInsertID
        }
        return Company(id: id, name: name, extid: extid, createdAt: now, updatedAt: now)
    }

    public func company(id: Company.ID) throws -> Company? {
        try database.read { connection in
            try connection.query(
                "SELECT \(Self.companyColumns) FROM companies WHERE id = ? AND deleted_at IS NULL", [.int(id)]
            ).first.map(Self.company)
        }
    }

    public func companies(onlyID: Company.ID?, page: PageRequest) throws -> Page<Company> {
        try database.read { connection in
            var filter = SQLFilter("deleted_at IS NULL")
            if let onlyID { filter.add("id = ?", .int(onlyID)) }
            return try Self.page(
                page, in: connection, select: "SELECT \(Self.companyColumns) FROM companies", countFrom: "companies",
                filter: filter, orderBy: "id", map: Self.company)
        }
    }

    public func updateCompany(_ company: Company) throws {
        try write { connection in
            try connection.run(
                "UPDATE companies SET name = ?, extid = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
                [.text(company.name), .text(company.extid), .int(company.updatedAt), .int(company.id)])
        }
    }

    public func deleteCompany(id: Company.ID, now: Int64) throws {
        try write { connection in
            try connection.run(
                "UPDATE companies SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", [.int(now), .int(id)])
            try connection.run(
                """
                UPDATE access_tokens SET revoked_at = ?1 WHERE revoked_at IS NULL AND (
                    user_id IN (SELECT id FROM users WHERE company_id = ?2)
                    OR client_id IN (SELECT id FROM machine_clients WHERE company_id = ?2))
                """, [.int(now), .int(id)])
            // Everyone's video sessions in the company's calls, patients' included.
            try connection.run(
                """
                DELETE FROM video_sessions WHERE user_id IN (SELECT id FROM users WHERE company_id = ?1)
                    OR call_id IN (SELECT id FROM calls WHERE company_id = ?1)
                """, [.int(id)])
            try connection.run(
                "UPDATE users SET deleted_at = ?1 WHERE company_id = ?2 AND deleted_at IS NULL", [.int(now), .int(id)])
            try connection.run(
                "UPDATE machine_clients SET revoked_at = ?1 WHERE company_id = ?2 AND revoked_at IS NULL",
                [.int(now), .int(id)])
        }
    }
}

extension SQLiteStore: OrganisationStore {
    static func unit(_ row: Row) -> OrganisationUnit {
        OrganisationUnit(
            id: row.int(0)!, kind: OrganisationUnit.Kind(rawValue: row.text(1)!)!, companyID: row.int(2)!,
            name: row.text(3)!,
            createdAt: row.int(4)!, updatedAt: row.int(5)!)
    }

    static let unitColumns = "id, kind, company_id, name, created_at, updated_at"

    public func insertUnit(kind: OrganisationUnit.Kind, companyID: Company.ID, name: String, now: Int64) throws
        -> OrganisationUnit
    {
        let id = try write { connection in
            try connection.run(
                "INSERT INTO organisation_units (kind, company_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                [.text(kind.rawValue), .int(companyID), .text(name), .int(now), .int(now)])
            return connection.lastInsertID
        }
        return OrganisationUnit(id: id, kind: kind, companyID: companyID, name: name, createdAt: now, updatedAt: now)
    }

    public func unit(kind: OrganisationUnit.Kind, id: OrganisationUnit.ID) throws -> OrganisationUnit? {
        try database.read { connection in
            try connection.query(
                """
                SELECT \(Self.unitColumns) FROM organisation_units
                WHERE id = ? AND kind = ? AND company_id IN (SELECT id FROM companies WHERE deleted_at IS NULL)
                """, [.int(id), .text(kind.rawValue)]
            ).first.map(Self.unit)
        }
    }

    public func units(kind: OrganisationUnit.Kind, companyID: Company.ID?, page: PageRequest) throws -> Page<
        OrganisationUnit
    > {
        try database.read { connection in
            var filter = SQLFilter("company_id IN (SELECT id FROM companies WHERE deleted_at IS NULL)")
            filter.add("kind = ?", .text(kind.rawValue))
            if let companyID { filter.add("company_id = ?", .int(companyID)) }
            return try Self.page(
                page, in: connection, select: "SELECT \(Self.unitColumns) FROM organisation_units",
                countFrom: "organisation_units", filter: filter, orderBy: "id", map: Self.unit)
        }
    }

    public func updateUnit(_ unit: OrganisationUnit) throws {
        try write { connection in
            try connection.run(
                "UPDATE organisation_units SET name = ?, updated_at = ? WHERE id = ?",
                [.text(unit.name), .int(unit.updatedAt), .int(unit.id)])
        }
    }

    public func deleteUnit(kind: OrganisationUnit.Kind, id: OrganisationUnit.ID) throws {
        try write { connection in
            try connection.run(
                "DELETE FROM organisation_units WHERE id = ? AND kind = ?", [.int(id), .text(kind.rawValue)])
        }
    }
}
