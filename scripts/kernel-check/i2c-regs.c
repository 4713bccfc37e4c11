// SPDX-License-Identifier: GPL-2.0
/*
 * A plain-I2C test adapter for scripts/kernel-check.sh: i2c-stub is SMBus-only, so it cannot show
 * I2C_RDWR (a write and a read in one transaction, with a repeated start). This adapter implements
 * master_xfer (I2C_FUNC_I2C, SMBus emulated on top by the kernel, so i2c-tools work too) with one
 * register-mapped device at `addr` (default 0x76): a write sets the register pointer from its first
 * byte and stores the rest, a read returns registers from the pointer on, auto-incrementing, as a
 * BME280 does. Any other address is not acknowledged (-ENXIO, as a real adapter says).
 *
 * Witnesses for the check, read-only module parameters under /sys/module/i2c_regs/parameters/:
 *   xfers       master_xfer calls so far (one per transaction: a write then a read with a stop
 *               between is two, I2C_RDWR with a repeated start is one)
 *   last_nmsgs  messages in the last transaction (2 for a write + repeated start + read)
 */
#include <linux/i2c.h>
#include <linux/module.h>
#include <linux/mutex.h>

static unsigned short addr = 0x76;
module_param(addr, ushort, 0444);
MODULE_PARM_DESC(addr, "the address the simulated device answers at");
static unsigned long xfers;
module_param(xfers, ulong, 0444);
static int last_nmsgs;
module_param(last_nmsgs, int, 0444);

static u8 regs[256];
static u8 ptr;
static DEFINE_MUTEX(lock);

static int regs_xfer(struct i2c_adapter *adap, struct i2c_msg *msgs, int num)
{
	int i, j;

	mutex_lock(&lock);
	for (i = 0; i < num; i++) {
		if (msgs[i].addr != addr) {
			mutex_unlock(&lock);
			return -ENXIO;
		}
	}
	for (i = 0; i < num; i++) {
		struct i2c_msg *m = &msgs[i];

		if (m->flags & I2C_M_RD) {
			for (j = 0; j < m->len; j++)
				m->buf[j] = regs[ptr++];
		} else if (m->len > 0) {
			ptr = m->buf[0];
			for (j = 1; j < m->len; j++)
				regs[ptr++] = m->buf[j];
		}
	}
	xfers++;
	last_nmsgs = num;
	mutex_unlock(&lock);
	return num;
}

static u32 regs_func(struct i2c_adapter *adap)
{
	return I2C_FUNC_I2C | I2C_FUNC_SMBUS_EMUL;
}

static const struct i2c_algorithm regs_algo = {
	.master_xfer = regs_xfer,
	.functionality = regs_func,
};

static struct i2c_adapter regs_adapter = {
	.owner = THIS_MODULE,
	.class = I2C_CLASS_HWMON,
	.algo = &regs_algo,
	.name = "airssys register test adapter",
};

static int __init regs_init(void)
{
	return i2c_add_adapter(&regs_adapter);
}

static void __exit regs_exit(void)
{
	i2c_del_adapter(&regs_adapter);
}

module_init(regs_init);
module_exit(regs_exit);
MODULE_DESCRIPTION("plain-I2C register test adapter for the AirsSys kernel check");
MODULE_LICENSE("GPL");
