extension ConfigWriter {
    /// The vservers `config.after` names that `before` does not have (valid or not): kept, each with a warning
    /// unless it is in `alongside` (imported by the same command).
    static func danglingAfter(_ config: inout VServerConfig, locations: [SettingLocation], before: ConfigSet,
                              alongside: Set<String>) -> Set<String>
    {
        var dangling = Set<String>()
        for (index, dependency) in config.after.enumerated()
        where before.configs[dependency] == nil && before.invalid[dependency] == nil {
            dangling.insert(dependency)
            guard !alongside.contains(dependency) else { continue }
            let location = index < locations.count ? locations[index] : SettingLocation(file: config.configFile)
            config.warnings.append(
                location.error(
                    "vserver \(quoted(dependency)) does not exist (yet); kept in after: \(config.name) is not valid "
                        + "until it is made or imported"
                ).description)
        }
        return dangling
    }

    /// The order to import util-vserver directories in: each after the ones it depends on (`after`, from
    /// `apps/init/depends`) among them, otherwise as given. `after` maps each name to its dependencies.
    package static func importOrder(_ names: [String], after: [String: [String]]) -> [String] {
        var order: [String] = []
        var placed = Set<String>()
        var visiting = Set<String>()
        let known = Set(names)
        func place(_ name: String) {
            guard !placed.contains(name), !visiting.contains(name) else { return }
            visiting.insert(name)
            for dependency in after[name] ?? [] where known.contains(dependency) { place(dependency) }
            visiting.remove(name)
            placed.insert(name)
            order.append(name)
        }
        for name in names { place(name) }
        return order
    }
}
