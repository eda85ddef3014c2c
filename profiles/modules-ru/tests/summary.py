for name, verdict in results.items():
    print(f"  {name:<22} {verdict}")
passed = sum(verdict == "ok" for verdict in results.values())
print(f"\nПройдено модулей: {passed} из {len(results)}.")
if passed == len(results):
    print("  -> все проверки пройдены: можно сдавать modules.ipynb")
else:
    print("  -> исправьте модули, у которых стоит не «ok», и запустите этот ноутбук заново")
