/// Which page of a list to return. `page` starts at 1.
public struct PageRequest: Sendable, Equatable {
    public static let defaultPerPage = 15
    public static let maximumPerPage = 10_000

    public let page: Int
    public let perPage: Int

    public init(page: Int = 1, perPage: Int = PageRequest.defaultPerPage) {
        self.page = page
        self.perPage = perPage
    }

    public var offset: Int { (page - 1) * perPage }

    /// Validates raw query values; nil means not given.
    public static func parse(page: String?, perPage: String?) throws(DomainError) -> PageRequest {
        var errors = ValidationErrors()
        var pageNumber = 1
        var size = defaultPerPage
        if let page {
            if let value = Int(page), value >= 1, value <= 1_000_000 {
                pageNumber = value
            } else {
                errors.add("page", "page must be a whole number from 1.")
            }
        }
        if let perPage {
            if let value = Int(perPage), value >= 1, value <= maximumPerPage {
                size = value
            } else {
                errors.add("per_page", "per_page must be a whole number from 1 to \(maximumPerPage).")
            }
        }
        try errors.check()
        return PageRequest(page: pageNumber, perPage: size)
    }
}

/// One page of a list plus the total, for Laravel-style pagination metadata.
public struct Page<Item: Sendable>: Sendable {
    public let items: [Item]
    public let total: Int
    public let request: PageRequest

    public init(items: [Item], total: Int, request: PageRequest) {
        self.items = items
        self.total = total
        self.request = request
    }

    public var lastPage: Int { max(1, (total + request.perPage - 1) / request.perPage) }

    public func map<T>(_ transform: (Item) throws -> T) rethrows -> Page<T> {
        Page<T>(items: try items.map(transform), total: total, request: request)
    }
}
