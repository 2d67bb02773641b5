cd /work/main
export PYTHONPATH=bench:.
for i in 1 2; do
echo "== defaults $i"; .venv/bin/python bench/pose_rgb.py 2>&1 | grep -E "_ms=|ratio"
echo "== tuned $i"; .venv/bin/python -c "
import runpy, sys
from nova3r_ros.model.cpu_memory import keep_freed_memory
print('tuned', keep_freed_memory())
sys.argv = ['bench/pose_rgb.py']
runpy.run_path('bench/pose_rgb.py', run_name='__main__')" 2>&1 | grep -E "tuned|_ms=|ratio"
done
