import HTTPServer
import Sprechstunde

extension Application {
    func registerCompanyRoutes(_ router: inout Router) {
        router.get("/api/v2/companies") { [self] request in
            let page = try companies.list(as: principal(request), page: pageRequest(request))
            return Wire.page(page, request: request, base: baseURL(request)) { $0.json }
        }
        router.get("/api/v2/companies/{id}") { [self] request in
            Wire.single(try companies.get(as: principal(request), id: pathID(request)).json)
        }
        router.post("/api/v2/companies") { [self] request in
            let principal = try principal(request)
            var body = try RequestBody(request)
            let name = body.string("name")
            let extid = body.nullableString("extid")
            try body.check()
            return Wire.single(try companies.create(as: principal, name: name, extid: extid).json, status: 201)
        }
        let update: Router.Handler = { [self] request in
            let principal = try principal(request)
            var body = try RequestBody(request)
            let name = body.string("name")
            let extid = body.nullableString("extid")
            try body.check()
            return Wire.single(try companies.update(as: principal, id: pathID(request), name: name, extid: extid).json)
        }
        router.put("/api/v2/companies/{id}", update)
        router.patch("/api/v2/companies/{id}", update)
        router.delete("/api/v2/companies/{id}") { [self] request in
            try companies.delete(as: principal(request), id: pathID(request))
            return .noContent
        }
    }

    func registerOrganisationRoutes(_ router: inout Router) {
        for kind in OrganisationUnit.Kind.allCases {
            let collection = "/api/v2/\(kind.collection)"
            router.get(collection) { [self] request in
                let page = try organisation.list(as: principal(request), kind: kind, page: pageRequest(request))
                return Wire.page(page, request: request, base: baseURL(request)) { $0.json }
            }
            router.get(collection + "/{id}") { [self] request in
                Wire.single(try organisation.get(as: principal(request), kind: kind, id: pathID(request)).json)
            }
            router.post(collection) { [self] request in
                let principal = try principal(request)
                var body = try RequestBody(request)
                let name = body.string("name")
                let companyID = body.int("company_id")
                try body.check()
                let unit = try organisation.create(as: principal, kind: kind, companyID: companyID, name: name)
                return Wire.single(unit.json, status: 201)
            }
            let update: Router.Handler = { [self] request in
                let principal = try principal(request)
                var body = try RequestBody(request)
                let name = body.string("name")
                try body.check()
                return Wire.single(
                    try organisation.update(as: principal, kind: kind, id: pathID(request), name: name).json)
            }
            router.put(collection + "/{id}", update)
            router.patch(collection + "/{id}", update)
            router.delete(collection + "/{id}") { [self] request in
                try organisation.delete(as: principal(request), kind: kind, id: pathID(request))
                return .noContent
            }
        }
    }
}
