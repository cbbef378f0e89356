"""Operations jobs of the worker: nightly backups, the weekly restore drill, the daily audit verify."""
